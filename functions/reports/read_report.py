"""GET <family prefix>/<report>: the JSON read of every report, one Lambda handler each, built from its declaration.

Entry point `reports.read_report.<family>__<report>`, e.g. `reports.read_report.reports__summary` (`backinstock.api.
reports`): a new report needs no file here.
"""

from backinstock.api.reports import handlers

__getattr__ = handlers("read")
