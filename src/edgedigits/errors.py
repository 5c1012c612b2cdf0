"""The one exception type the library raises for problems a user can fix."""


class EdgeDigitsError(Exception):
    """A failure with a message a user can act on: what failed, on which input, what to do.

    The command line prints the message as one line and exits non-zero; library
    callers catch this type to tell user errors from bugs.
    """
