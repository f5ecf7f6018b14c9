"""POST <family prefix>/<report>/export: the CSV export job of every report, one Lambda handler each, built from its
declaration.

Entry point `reports.export_report.<family>__<report>`, e.g. `reports.export_report.reports__summary`
(`backinstock.api.reports`): a new report needs no file here.
"""

from backinstock.api.reports import handlers

__getattr__ = handlers("export")
