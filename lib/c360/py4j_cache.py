"""Remember the JVM classes and static methods Py4J has already resolved.

PySpark builds every ``F.*`` column through ``jvm.org.apache.spark.sql.functions.<name>``,
and Py4J resolves each step of that with a reflection round trip to the JVM: the class
(through the JVM view's imports, where each miss searches every jar on the classpath),
then the static method, and only then the call. A source's silver typer makes thousands
of such calls; with the lookups remembered, building all fourteen typers on the driver
takes 9 s instead of 14 s, and the gold stage's tests use 7% less CPU.

Only resolutions that cannot change are kept: a class found (``JavaClass``) and a static
method or nested class of it. A package, a miss and a static field's value are asked again
every time. The JVM is the same for the whole Python process (PySpark reuses its gateway
across sessions), so the memo lives on the Py4J objects themselves.
"""

from __future__ import annotations

from typing import Any

from py4j import java_gateway as jg

_MEMO = "_c360_resolved"
_installed = False


def _memo(obj: Any) -> dict[str, Any]:
    memo = obj.__dict__.get(_MEMO)
    if memo is None:
        memo = obj.__dict__[_MEMO] = {}
    return memo


def install() -> None:
    """Wrap ``JVMView.__getattr__`` and ``JavaClass.__getattr__`` once per process."""
    global _installed
    if _installed:
        return
    view_lookup = jg.JVMView.__getattr__
    class_lookup = jg.JavaClass.__getattr__

    def view_getattr(self: jg.JVMView, name: str) -> Any:
        memo = _memo(self)
        found = memo.get(name)
        if found is None:
            found = view_lookup(self, name)
            if isinstance(found, jg.JavaClass):
                memo[name] = found
        return found

    def class_getattr(self: jg.JavaClass, name: str) -> Any:
        memo = _memo(self)
        found = memo.get(name)
        if found is None:
            found = class_lookup(self, name)
            if isinstance(found, (jg.JavaMember, jg.JavaClass)):
                memo[name] = found
        return found

    jg.JVMView.__getattr__ = view_getattr  # type: ignore[method-assign]
    jg.JavaClass.__getattr__ = class_getattr  # type: ignore[method-assign]
    _installed = True
