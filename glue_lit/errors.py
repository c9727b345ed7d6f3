"""The one exception type glue_lit raises for problems a user can fix."""


class GlueLitError(Exception):
    """Bad input or environment: the message names what failed and where, and how to fix it.

    The command line prints it as one line and exits with status 2, without a traceback.
    """
