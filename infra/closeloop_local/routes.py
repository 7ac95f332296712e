"""Route matching as API Gateway HTTP APIs do it: the most specific route wins, `$default` last.

A literal segment beats a `{param}`, which beats a greedy `{proxy+}`; a route's own method beats
`ANY` on the same path; `$default` takes what no other route matches.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar
from urllib.parse import unquote

T = TypeVar("T")

DEFAULT_ROUTE = "$default"


@dataclass(frozen=True)
class Route(Generic[T]):
    method: str
    path: str
    target: T

    @property
    def key(self) -> str:
        """The route key, as API Gateway names it: "GET /pets/{id}", or "$default"."""
        return DEFAULT_ROUTE if self.path == DEFAULT_ROUTE else f"{self.method} {self.path}"


@dataclass(frozen=True)
class RouteMatch(Generic[T]):
    route: Route[T]
    path_parameters: dict[str, str]


def _segments(path: str) -> list[str]:
    return path[1:].split("/") if path.startswith("/") else path.split("/")


def _match_path(template: list[str], segments: list[str]) -> tuple[dict[str, str], tuple[int, ...]] | None:
    """The path parameters and the specificity of a match, or None."""
    parameters: dict[str, str] = {}
    ranks: list[int] = []
    for index, part in enumerate(template):
        if part.startswith("{") and part.endswith("+}"):
            rest = segments[index:]
            if not any(rest):
                return None
            parameters[part[1:-2]] = unquote("/".join(rest))
            return parameters, (*ranks, 0)
        if index >= len(segments):
            return None
        segment = segments[index]
        if part.startswith("{") and part.endswith("}"):
            if not segment:
                return None
            parameters[part[1:-1]] = unquote(segment)
            ranks.append(1)
        elif unquote(segment) == part:
            ranks.append(2)
        else:
            return None
    return (parameters, tuple(ranks)) if len(segments) == len(template) else None


class RouteTable(Generic[T]):
    """Routes by method and path template; answers which route a request goes to."""

    def __init__(self) -> None:
        self._routes: dict[str, Route[T]] = {}

    def add(self, method: str, path: str, target: T) -> Route[T]:
        route = Route(method.upper(), path, target)
        if path != DEFAULT_ROUTE and not path.startswith("/"):
            raise ValueError(f"route path {path!r} must start with /")
        if route.key in self._routes:
            raise ValueError(f"route {route.key} is declared twice")
        self._routes[route.key] = route
        return route

    def routes(self) -> list[Route[T]]:
        return list(self._routes.values())

    def _candidates(self, path: str) -> list[tuple[tuple[int, ...], Route[T], dict[str, str]]]:
        segments = _segments(path)
        found = []
        for route in self._routes.values():
            if route.path == DEFAULT_ROUTE:
                continue
            matched = _match_path(_segments(route.path), segments)
            if matched is not None:
                parameters, ranks = matched
                found.append((ranks, route, parameters))
        return found

    def match(self, method: str, path: str) -> RouteMatch[T] | None:
        """The route a request goes to, or None if none takes it."""
        method = method.upper()
        best: tuple[tuple[int, ...], Route[T], dict[str, str]] | None = None
        for ranks, route, parameters in self._candidates(path):
            if route.method not in (method, "ANY"):
                continue
            score = (*ranks, 1 if route.method == method else 0)
            if best is None or score > best[0]:
                best = (score, route, parameters)
        if best is not None:
            return RouteMatch(best[1], best[2])
        default = self._routes.get(DEFAULT_ROUTE)
        return RouteMatch(default, {}) if default is not None else None

    def methods_for(self, path: str) -> list[str]:
        """The methods routes declare for this path (for a 405's Allow header)."""
        return sorted({route.method for _, route, _ in self._candidates(path)})
