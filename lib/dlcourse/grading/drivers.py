"""Driver text that several assignments' checks share (``Exercise.driver``).

A driver is source run in the sandbox after the student's cells; the checks
files also ``exec`` it on the trusted side, so both sides use the same helper.
"""

# ``call="_checked(relu_backward, dout, cache)"`` returns the answer followed by
# every array the function received: a backward that writes into dout or its
# cache then differs from the untouched inputs the parent expects.
CHECKED_CALL = '''
def _checked(function, *args):
    """The function's answer, then every array it received (a backward must not change them)."""
    def arrays(value):
        if isinstance(value, dict):
            return [a for item in value.values() for a in arrays(item)]
        if isinstance(value, (tuple, list)):
            return [a for item in value for a in arrays(item)]
        return [value] if hasattr(value, "shape") else []

    return (function(*args), *arrays(args))
'''
