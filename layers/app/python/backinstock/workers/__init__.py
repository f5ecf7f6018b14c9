"""SQS-driven workers (not API actions): their Lambda entry points live in functions/workers/."""
