"""GET <family prefix>: a report family's manifest. Entry point `reports.list_reports.<family>`, e.g.
`reports.list_reports.reports` (`backinstock.api.reports`)."""

from backinstock.api.reports import handlers

__getattr__ = handlers("list")
