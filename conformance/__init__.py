"""The TestScript engine: runs FHIR R4 TestScripts against a server, writes TestReports.

Specification: http://hl7.org/fhir/R4/testscript.html, testscript-definitions.html,
testing.html and testreport.html. Entry points live in `conformance.runner`.
"""

from conformance.runner import ReportPostError, ScriptResult, main_run, post_report, run_scripts

__all__ = ["ReportPostError", "ScriptResult", "main_run", "post_report", "run_scripts"]
