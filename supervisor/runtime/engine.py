"""The thin I/O layer: one Docker Engine, through the docker SDK's low-level API.

Every method is one or two Engine calls; decisions live in :mod:`supervisor.runtime.plan`.
SDK errors become :mod:`supervisor.runtime.errors` exceptions with the Engine's message.
"""

from __future__ import annotations

import os
import re
import threading
from typing import Any, Callable, Iterator, Optional, Sequence

import docker
import docker.errors
from docker.api.build import process_dockerfile
from docker.utils.build import tar as build_context_tar

from supervisor.runtime import labels as L
from supervisor.runtime.errors import BuildFailed, EngineFailure, EngineUnavailable, ImageMissing
from supervisor.runtime.plan import BuildStep, Observed, ObservedContainer, label_dependencies

__all__ = ["Engine", "observed_container"]


def observed_container(info: dict[str, Any]) -> ObservedContainer:
    """An :class:`ObservedContainer` from a ``GET /containers/json`` entry or an inspect document."""
    labels = info.get("Labels") or (info.get("Config") or {}).get("Labels") or {}
    state = info.get("State")
    health = None
    exit_code = 0
    if isinstance(state, dict):  # inspect document
        health = (state.get("Health") or {}).get("Status")
        exit_code = int(state.get("ExitCode") or 0)
        state_name = state.get("Status") or "unknown"
    else:  # list entry: "Status" reads like "Up 3 seconds (healthy)"
        state_name = state or "unknown"
        status = info.get("Status") or ""
        for marker, value in (
            ("(healthy)", "healthy"),
            ("(unhealthy)", "unhealthy"),
            ("(health: starting)", "starting"),
        ):
            if marker in status:
                health = value
                break
    name = info.get("Name") or (info.get("Names") or ["?"])[0]
    try:
        number = int(labels.get(L.CONTAINER_NUMBER) or 1)
    except ValueError:
        number = 1
    return ObservedContainer(
        id=info.get("Id", ""),
        name=name.lstrip("/"),
        service=labels.get(L.SERVICE, ""),
        number=number,
        config_hash=labels.get(L.CONFIG_HASH, ""),
        image_id=info.get("ImageID") or info.get("Image", ""),
        state=state_name,
        health=health,
        exit_code=exit_code,
        # "db:service_healthy:false,cache:service_started:true"
        depends_on=tuple(d.service for d in label_dependencies(labels.get(L.DEPENDS_ON) or "")),
        dependencies=label_dependencies(labels.get(L.DEPENDS_ON) or ""),
    )


def _message(exc: Exception) -> str:
    if isinstance(exc, docker.errors.APIError):
        return str(exc.explanation or exc)
    return _root_cause(exc)


def _root_cause(exc: BaseException) -> str:
    """The innermost reason of a connection error, as a sentence (no nested exception reprs)."""
    seen: set[int] = set()
    todo: list[Any] = [exc]
    found: Optional[OSError] = None
    while todo:
        item = todo.pop(0)
        if isinstance(item, (tuple, list)):
            todo.extend(item)
            continue
        if not isinstance(item, BaseException) or id(item) in seen:
            continue
        seen.add(id(item))
        if isinstance(item, OSError) and item.strerror:
            found = item
        todo.extend([item.__cause__, item.__context__, *item.args])
    if found is not None:
        return str(found.strerror)
    text = str(exc)
    return re.sub(r"\(.*\)$", "", text).strip() or type(exc).__name__


_PORT_TAKEN = re.compile(
    r"(?:Bind for |bind host port for |listen tcp[46]? )\[?([0-9a-fA-F.:]*?)\]?:(\d+)"
    r"(?!\d).*?(port is already allocated|address already in use)",
    re.S,
)


def explain_start_failure(name: str, message: str) -> str:
    """``start NAME: ...``, saying which host port is taken when that is the reason."""
    message = re.sub(r"\s*\([0-9a-f]{64}\)", "", message)  # endpoint ids mean nothing to users
    found = _PORT_TAKEN.search(message)
    if found:
        host = found.group(1) or "0.0.0.0"
        return (
            f"start {name}: host port {found.group(2)} ({host}) is already taken by another container or "
            f"program; free it or publish another port ({message})"
        )
    return f"start {name}: {message}"


class Engine:
    """A connection to the Docker Engine (``DOCKER_HOST`` or ``/var/run/docker.sock``)."""

    def __init__(self, client: Optional[docker.DockerClient] = None, *, timeout: int = 120):
        if client is None:
            try:
                client = docker.from_env(timeout=timeout)
                client.ping()
            except Exception as exc:  # the SDK raises several types for "nobody answers"
                host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
                raise EngineUnavailable(
                    f"no Docker Engine answers at {host} ({_message(exc)}); start one "
                    "(scripts/docker-engine.sh start) or set DOCKER_HOST"
                ) from None
        self.client = client
        self.api = client.api
        self._lock = threading.Lock()
        self._names: dict[str, str] = {}  # container id -> name, to name containers as users know them

    def name_of(self, container: str) -> str:
        """The container's name when known (ids are what the Engine answers with, names what users know)."""
        if container in self._names:
            return self._names[container]
        for cid, name in self._names.items():
            if cid.startswith(container) and len(container) >= 12:
                return name
        return container[:12] if re.fullmatch(r"[0-9a-f]{64}", container) else container

    @property
    def api_version(self) -> str:
        """The negotiated Engine API version, e.g. ``"1.41"``."""
        return str(self.api.api_version)

    def _call(self, what: str, func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except docker.errors.DockerException as exc:
            raise EngineFailure(f"{what}: {_message(exc)}") from None

    # --- observation -------------------------------------------------------------------

    def containers(self, project: str, *, all: bool = True) -> list[dict[str, Any]]:
        """The project's containers as ``GET /containers/json`` entries."""
        found = self._call("list containers", self.api.containers, all=all, filters=L.project_filter(project))
        for info in found:
            if info.get("Id") and info.get("Names"):
                self._names[info["Id"]] = str(info["Names"][0]).lstrip("/")
        return found

    def observe(self, project: str, images: tuple[str, ...] = ()) -> Observed:
        """The project's containers, networks and volumes, and the ids of the given images."""
        containers = [observed_container(c) for c in self.containers(project)]
        label = {"label": [f"{L.PROJECT}={project}"]}
        networks = {
            n["Name"]: n.get("Labels") or {} for n in self._call("list networks", self.api.networks, filters=label)
        }
        vols = self._call("list volumes", self.api.volumes, filters=label) or {}
        volumes = {v["Name"]: v.get("Labels") or {} for v in vols.get("Volumes") or []}
        return Observed(containers, networks, volumes, self.image_ids(images))

    def image_ids(self, refs: tuple[str, ...] | list[str]) -> dict[str, str]:
        """``reference -> image id`` for the references present locally."""
        out = {}
        for ref in refs:
            try:
                out[ref] = self.api.inspect_image(ref)["Id"]
            except docker.errors.ImageNotFound:
                continue
            except docker.errors.DockerException as exc:
                raise EngineFailure(f"inspect image {ref}: {_message(exc)}") from None
        return out

    def inspect(self, container: str) -> dict[str, Any]:
        """``GET /containers/{id}/json``."""
        return self._call(f"inspect {self.name_of(container)}", self.api.inspect_container, container)

    def network_exists(self, name: str) -> bool:
        """Whether a network of that name exists (for external networks)."""
        try:
            self.api.inspect_network(name)
            return True
        except docker.errors.NotFound:
            return False

    # --- images ------------------------------------------------------------------------

    def build(self, step: BuildStep, on_line: Callable[[str], None]) -> str:
        """Build one image, streaming its output lines to ``on_line``; return the image id.

        The context honours ``<dockerfile>.dockerignore`` beside the Dockerfile (as BuildKit
        and compose do), else ``.dockerignore`` at the context root.
        """
        context = os.path.abspath(step.context)
        dockerfile_path = step.dockerfile if os.path.isabs(step.dockerfile) else os.path.join(context, step.dockerfile)
        if not os.path.isdir(context):
            raise BuildFailed(f"service {step.service}: build context {context} is not a directory")
        if not os.path.isfile(dockerfile_path):
            raise BuildFailed(f"service {step.service}: Dockerfile {dockerfile_path} not found")
        exclude = None
        for candidate in (dockerfile_path + ".dockerignore", os.path.join(context, ".dockerignore")):
            if os.path.isfile(candidate):
                with open(candidate, encoding="utf-8") as fh:
                    exclude = [
                        ln.strip() for ln in fh.read().splitlines() if ln.strip() and not ln.strip().startswith("#")
                    ]
                break
        dockerfile = process_dockerfile(step.dockerfile, context)
        fileobj = build_context_tar(context, exclude=exclude, dockerfile=dockerfile)
        last = ""
        image_id = None
        try:
            stream = self.api.build(
                fileobj=fileobj,
                custom_context=True,
                dockerfile=dockerfile[0],
                tag=step.image,
                buildargs=step.args or None,
                target=step.target,
                rm=True,
                forcerm=True,
                decode=True,
            )
            for chunk in stream:
                if "error" in chunk:
                    detail = (chunk.get("errorDetail") or {}).get("message") or chunk["error"]
                    raise BuildFailed(
                        f"service {step.service}: build of {step.image} failed: {detail.strip()}"
                        + (f" (after: {last})" if last else "")
                    )
                text = chunk.get("stream") or chunk.get("status") or ""
                for line in text.splitlines():
                    if line.strip():
                        last = line.strip()
                        on_line(line.rstrip())
                aux = chunk.get("aux") or {}
                if aux.get("ID"):
                    image_id = aux["ID"]
        except docker.errors.DockerException as exc:
            raise BuildFailed(f"service {step.service}: build of {step.image} failed: {_message(exc)}") from None
        finally:
            fileobj.close()
        if image_id is None:
            image_id = self.image_ids([step.image]).get(step.image)
        if image_id is None:
            raise BuildFailed(f"service {step.service}: build of {step.image} produced no image ({last})")
        return image_id

    def pull(self, image: str) -> str:
        """Pull an image that is not present; raise :class:`ImageMissing` with the reason."""
        try:
            self.api.pull(image)
        except docker.errors.DockerException as exc:
            raise ImageMissing(f"image {image} is not present locally and cannot be pulled: {_message(exc)}") from None
        return self.image_ids([image])[image]

    # --- networks and volumes ------------------------------------------------------------

    def create_network(self, body: dict[str, Any]) -> None:
        """``POST /networks/create`` with a body from :func:`supervisor.runtime.spec.network_body`."""
        url = self.api._url("/networks/create")
        res = self._call(f"create network {body['Name']}", self.api._post_json, url, data=body)
        if res.status_code == 409:  # created meanwhile by a concurrent run: fine
            return
        self._call(f"create network {body['Name']}", self.api._raise_for_status, res)

    def create_volume(self, body: dict[str, Any]) -> None:
        """``POST /volumes/create``."""
        self._call(
            f"create volume {body['Name']}",
            self.api.create_volume,
            name=body["Name"],
            driver=body.get("Driver"),
            driver_opts=body.get("DriverOpts") or None,
            labels=body.get("Labels"),
        )

    def remove_network(self, name: str) -> bool:
        """Remove a network; False when containers outside the plan still use it (compose leaves it
        then, "Resource is still in use"); a missing one is not an error."""
        try:
            self.api.remove_network(name)
        except docker.errors.NotFound:
            pass
        except docker.errors.APIError as exc:
            if exc.status_code == 403 and "active endpoints" in str(exc.explanation or ""):
                return False
            raise EngineFailure(f"remove network {name}: {_message(exc)}") from None
        except docker.errors.DockerException as exc:
            raise EngineFailure(f"remove network {name}: {_message(exc)}") from None
        return True

    def remove_volume(self, name: str) -> bool:
        """Remove a volume; False when a container still uses it (left, as compose leaves it)."""
        try:
            self.api.remove_volume(name)
        except docker.errors.NotFound:
            pass
        except docker.errors.APIError as exc:
            if exc.status_code == 409:
                return False
            raise EngineFailure(f"remove volume {name}: {_message(exc)}") from None
        except docker.errors.DockerException as exc:
            raise EngineFailure(f"remove volume {name}: {_message(exc)}") from None
        return True

    # --- containers ----------------------------------------------------------------------

    def create_container(
        self, name: str, body: dict[str, Any], extra_networks: Sequence[tuple[str, dict[str, Any]]] = ()
    ) -> str:
        """``POST /containers/create?name=NAME`` with the raw body; attach further networks."""
        result = self._call(f"create container {name}", self.api.create_container_from_config, body, name)
        cid = result["Id"]
        self._names[cid] = name
        for network, endpoint in extra_networks:
            self._call(
                f"connect {name} to {network}",
                self.api.connect_container_to_network,
                cid,
                network,
                aliases=endpoint.get("Aliases"),
                ipv4_address=(endpoint.get("IPAMConfig") or {}).get("IPv4Address"),
                ipv6_address=(endpoint.get("IPAMConfig") or {}).get("IPv6Address"),
            )
        return cid

    def start(self, container: str) -> None:
        """Start (or unpause) a container."""
        info = self.inspect(container)
        if (info.get("State") or {}).get("Paused"):
            self._call(f"unpause {self.name_of(container)}", self.api.unpause, container)
            return
        try:
            self.api.start(container)
        except docker.errors.DockerException as exc:
            raise EngineFailure(explain_start_failure(self.name_of(container), _message(exc))) from None

    def stop(self, container: str, timeout: Optional[int] = None) -> None:
        """Stop gracefully: the stop signal, then SIGKILL after ``timeout`` seconds."""
        kwargs = {} if timeout is None else {"timeout": timeout}
        try:
            self.api.stop(container, **kwargs)
        except docker.errors.NotFound:
            pass
        except docker.errors.DockerException as exc:
            raise EngineFailure(f"stop {self.name_of(container)}: {_message(exc)}") from None

    def kill(self, container: str) -> None:
        """SIGKILL, ignoring containers that already stopped."""
        try:
            self.api.kill(container)
        except docker.errors.DockerException:
            pass

    def restart(self, container: str, timeout: Optional[int] = None) -> None:
        """``POST /containers/{id}/restart``; without ``timeout``, the container's own stop timeout."""
        if timeout is None:
            # The SDK would default to 10 s; the container's stop_grace_period is the right wait.
            configured = (self.inspect(container).get("Config") or {}).get("StopTimeout")
            timeout = 10 if configured is None else int(configured)
        self._call(f"restart {self.name_of(container)}", self.api.restart, container, timeout=timeout)

    def remove(self, container: str, *, force: bool = False, volumes: bool = False) -> None:
        """Remove a container (its anonymous volumes too with ``volumes``)."""
        try:
            self.api.remove_container(container, force=force, v=volumes)
        except docker.errors.NotFound:
            pass
        except docker.errors.DockerException as exc:
            raise EngineFailure(f"remove {self.name_of(container)}: {_message(exc)}") from None

    def rename(self, container: str, name: str) -> None:
        """Rename a container (recreate moves the old one aside first)."""
        self._call(f"rename {self.name_of(container)}", self.api.rename, container, name)

    def exec(
        self, container: str, cmd: list[str], *, timeout: float = 30.0, env: Optional[dict[str, str]] = None
    ) -> tuple[int, str]:
        """Run a command in a running container; return its exit code and combined output.

        ``env`` adds variables to the command's environment: the place for a password, which
        would be visible in the container's process list (and in our messages) as an argument.
        """
        exec_id = self._call(
            f"exec in {self.name_of(container)}",
            self.api.exec_create,
            container,
            cmd,
            stdout=True,
            stderr=True,
            environment=env or None,
        )["Id"]
        result: dict[str, Any] = {}

        def run() -> None:
            try:
                result["out"] = self.api.exec_start(exec_id, demux=False)
            except docker.errors.DockerException as exc:
                result["error"] = _message(exc)

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        thread.join(timeout)
        if thread.is_alive():
            return 124, f"timed out after {timeout:.0f}s: {' '.join(cmd)}"
        if "error" in result:
            raise EngineFailure(f"exec in {self.name_of(container)}: {result['error']}")
        code = self._call("exec inspect", self.api.exec_inspect, exec_id).get("ExitCode")
        output = (result.get("out") or b"").decode("utf-8", "replace")
        return int(code if code is not None else 1), output

    def logs(
        self,
        container: str,
        *,
        follow: bool = False,
        tail: Optional[int] = None,
        since: Optional[int] = None,
        timestamps: bool = False,
    ) -> Iterator[bytes]:
        """The container's output (stdout and stderr) as raw chunks; ``follow`` keeps it open."""
        kwargs: dict[str, Any] = {
            "stream": True,
            "follow": follow,
            "timestamps": timestamps,
            "tail": "all" if tail is None else tail,
        }
        if since is not None:
            kwargs["since"] = since
        return self._call(f"logs of {self.name_of(container)}", self.api.logs, container, **kwargs)

    def tail(self, container: str, lines: int = 20) -> list[str]:
        """The last ``lines`` lines of output, for failure reports."""
        try:
            data = self.api.logs(container, tail=lines, stream=False)
        except docker.errors.DockerException:
            return []
        return data.decode("utf-8", "replace").splitlines()[-lines:]
