"""GET <family prefix>/exports/:job_id/download?token=...: an export's download link, redirecting to the file.

Entry point `reports.download_report_export.<family>` (`backinstock.api.reports`).
"""

from backinstock.api.reports import handlers

__getattr__ = handlers("download")
