"""GET <family prefix>/exports/:job_id: poll an export job of a report family. Entry point
`reports.get_report_export.<family>`, e.g. `reports.get_report_export.reports` (`backinstock.api.reports`)."""

from backinstock.api.reports import handlers

__getattr__ = handlers("get")
