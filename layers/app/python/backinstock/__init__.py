"""Back-in-stock API: the application package shared by every Lambda function (shipped as a layer).

Cold start is import time, and about a third of a handler's import went to the garbage collector: importing boto3,
botocore, pydantic and our modules allocates hundreds of thousands of long-lived objects (modules, classes,
functions), and every collection on the way traverses all of them again, freeing nothing. In Lambda
(`AWS_LAMBDA_FUNCTION_NAME` is set) the collector is therefore paused from the first import of this package until
the entry point is built; `loaded()` then freezes what was imported (`gc.freeze`: later collections never traverse
it again) and resumes collection. Every entry point calls `loaded()` (`api.http.route` does it for every action; a
test imports each one and checks that collection is back on). Elsewhere (tests, the local run, the CLI) nothing
changes. The trade: cyclic garbage made while importing is frozen with the rest instead of freed (a one-time few
hundred kilobytes at most), against ~50 ms less cold start (docs/PERFORMANCE.md).
"""

import gc
import os

__version__ = "0.1.0"

_PAUSED = bool(os.environ.get("AWS_LAMBDA_FUNCTION_NAME")) and gc.isenabled()
if _PAUSED:
    gc.disable()


def loaded() -> None:
    """The entry point is built: freeze everything imported so far and resume garbage collection."""
    global _PAUSED
    if _PAUSED:
        _PAUSED = False
        gc.freeze()
        gc.enable()
