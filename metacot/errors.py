"""The one exception hierarchy of metacot.

Every error the package raises on purpose derives from :class:`MetacotError`, and also from the
built-in exception a caller would otherwise expect (``ValueError``, ``MemoryError``, ...), so both
``except MetacotError`` and ``except ValueError`` work.
"""

from __future__ import annotations


class MetacotError(Exception):
    """Base class of every error metacot raises on purpose."""


class InvalidChainError(MetacotError, ValueError):
    """A transition matrix, cluster labelling, start or target that cannot define a chain."""


class InvalidArgumentError(MetacotError, ValueError):
    """An argument outside its documented range (a negative count, a seed of more than 64 bits, ...)."""


class ArgumentTypeError(InvalidArgumentError, TypeError):
    """An argument has the wrong type (an int was expected and a float came, for example).

    Also a :class:`TypeError`, so code written against the built-in exceptions keeps working.
    """


class UnreachableTargetError(MetacotError, ValueError):
    """The target cannot be reached from the start, so the requested quantity does not exist."""


class CensoredError(MetacotError, ValueError):
    """A Monte Carlo estimate was asked for, but some walkers never hit within ``max_steps``."""


class MemoryBudgetError(MetacotError, MemoryError):
    """A request would need more memory than the machine has available; refused before allocating."""


class MissingDependencyError(MetacotError, ImportError):
    """An optional dependency is missing; the message names the extra that installs it."""


class BackendUnavailableError(MetacotError, RuntimeError):
    """A simulation backend was requested that cannot run here (no GPU, no numba, ...)."""


class UnknownBackendError(BackendUnavailableError, ValueError):
    """``backend=`` names no backend at all (as opposed to one that cannot run here)."""


class TraceFormatError(MetacotError, ValueError):
    """A trace or problem file that cannot be read: the message and attributes say where and why.

    Attributes
    ----------
    path : str
        The file that was being read.
    line : int or None
        1-based line number in a JSONL file; ``None`` when the fault concerns the whole file.
    reason : str
        What is wrong with that line or file.
    """

    def __init__(self, path: object, line: int | None, reason: str) -> None:
        self.path = str(path)
        self.line = line
        self.reason = reason
        where = self.path if line is None else f"{self.path}, line {line}"
        super().__init__(f"{where}: {reason}")


class MissingInputError(TraceFormatError, FileNotFoundError):
    """An input file or folder that does not exist.

    Also a :class:`FileNotFoundError`, so ``except FileNotFoundError`` keeps catching it.

    Examples
    --------
    >>> err = MissingInputError("data/typo.jsonl")
    >>> str(err), isinstance(err, FileNotFoundError)
    ('data/typo.jsonl: no such file or folder', True)
    """

    def __init__(self, path: object, what: str = "file or folder") -> None:
        super().__init__(path, None, f"no such {what}")
        self.filename = str(path)

    def __str__(self) -> str:
        # OSError.__str__ would come first in the MRO and format errno and filename instead.
        return f"{self.path}: {self.reason}"


class GraphFormatError(MetacotError, ValueError):
    """A saved behaviour graph that does not match its JSON schema: names the file and the field.

    Attributes
    ----------
    path : str
        The file that was being read.
    field : str
        The offending field, as a dotted path into the JSON document (``"P"``,
        ``"provenance.sources"``, ...).
    reason : str
        What is wrong with that field.
    """

    def __init__(self, path: object, field: str, reason: str) -> None:
        self.path = str(path)
        self.field = field
        self.reason = reason
        super().__init__(f"{self.path}: field {field!r}: {reason}")


class SamplerError(MetacotError, RuntimeError):
    """A language-model backend (:mod:`metacot.llm.samplers`) failed or gave an unusable reply."""


class ServerUnavailableError(SamplerError, ConnectionError):
    """Nothing usable answers at a model server's URL: refused, timed out, or transient errors persisted.

    The message names the URL and the number of attempts made.
    """


class BadResponseError(SamplerError, ValueError):
    """A model server answered, but not with an OpenAI-style chat completion (non-JSON, no choices, ...)."""


class CudaUnavailableError(MissingDependencyError, BackendUnavailableError):
    """The CUDA backend cannot run: numba-cuda or CuPy is missing, or there is no usable GPU.

    Both a :class:`MissingDependencyError` (an ``ImportError`` naming the ``gpu`` extra) and a
    :class:`BackendUnavailableError`, so either ``except`` clause catches it.
    """


class SolverError(MetacotError, RuntimeError):
    """An exact quantity exists but cannot be computed in float64 (it overflows, or a rate underflows).

    Also a :class:`RuntimeError`, which is what SciPy's singular-factor error was.
    """


class ConvergenceError(MetacotError, RuntimeError):
    """MCMC output failed a convergence check (:math:`\\hat R`, effective sample size or divergences)."""
