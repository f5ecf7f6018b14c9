"""DELETE <family prefix>/exports/:job_id: cancel an export job of a report family. Entry point
`reports.cancel_report_export.<family>`, e.g. `reports.cancel_report_export.reports` (`backinstock.api.reports`)."""

from backinstock.api.reports import handlers

__getattr__ = handlers("cancel")
