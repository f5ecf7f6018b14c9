"""Development and operator tooling that Lambda never runs: the admin CLI (`backinstock ...`) and the local run
(`backinstock_tools.local`: the moto backend, the local HTTP server, the pollers, the fake Shopify Admin API).

It lives outside `layers/app/python`, so the app layer ships only what a function runs (an infra test checks the
layer's contents). It imports `backinstock`; `backinstock` never imports it.
"""
