"""Fault codes and the error a method raises to send one, as supervisor's XML-RPC API 3.0.

The codes and the fault string format ("NAME" or "NAME: detail") are those of
supervisor.xmlrpc, because supervisorctl and third-party tools switch on both.
"""


class Faults:
    UNKNOWN_METHOD = 1
    INCORRECT_PARAMETERS = 2
    BAD_ARGUMENTS = 3
    SIGNATURE_UNSUPPORTED = 4
    SHUTDOWN_STATE = 6
    BAD_NAME = 10
    BAD_SIGNAL = 11
    NO_FILE = 20
    NOT_EXECUTABLE = 21
    FAILED = 30
    ABNORMAL_TERMINATION = 40
    SPAWN_ERROR = 50
    ALREADY_STARTED = 60
    NOT_RUNNING = 70
    SUCCESS = 80
    ALREADY_ADDED = 90
    STILL_RUNNING = 91
    CANT_REREAD = 92


_NAMES = {v: k for k, v in vars(Faults).items() if not k.startswith("_")}


def fault_description(code):
    """The fault's name ("BAD_NAME"), or "UNKNOWN" for a code supervisor does not define."""
    return _NAMES.get(code, "UNKNOWN")


class RPCError(Exception):
    """Raised by an RPC method to answer with a fault.

    `text` is the full fault string, built as supervisor builds it: the code's name, then
    ": " and the detail when one is given (RPCError(Faults.BAD_NAME, "foo") -> "BAD_NAME: foo").
    """

    def __init__(self, code, text=None):
        super().__init__(code, text)
        self.code = code
        self.detail = text
        self.text = fault_description(code)
        if text is not None:
            self.text = f"{self.text}: {text}"

    def __str__(self):
        return f"code={self.code!r}, text={self.text!r}"
