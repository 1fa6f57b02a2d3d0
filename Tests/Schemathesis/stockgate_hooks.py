"""Schemathesis hooks for StockGate's documents (SchemathesisTests loads them through
SCHEMATHESIS_HOOKS): what JSON Schema cannot say about JSON numbers is left out of generation.

StockGate reads a JSON number's digits exactly (quantities are exact from the JSON text to the
wire): at most 18 digits before and 18 after the point, and an integer field takes no fraction
form (`7396.0`), as Go's and Json.NET's decoders refuse it. JSON Schema sees binary floats: to it
`1.4989611891159421e-15` is a number within the bounds and `7396.0` an integer. A body holding
such a float is not generated (neither as valid nor as invalid data): every other constraint
the documents declare is checked both ways.
"""
from decimal import Decimal

import schemathesis


def _representable(value):
    if isinstance(value, bool):
        return True
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")) or value.is_integer():
            return False
        digits = Decimal(repr(value))
        sign, figures, exponent = digits.as_tuple()
        fraction = max(0, -exponent)
        whole = max(0, len(figures) + exponent)
        return fraction <= 18 and whole <= 18
    if isinstance(value, dict):
        return all(_representable(item) for item in value.values())
    if isinstance(value, list):
        return all(_representable(item) for item in value)
    return True


@schemathesis.hook
def filter_body(context, body):
    return _representable(body)
