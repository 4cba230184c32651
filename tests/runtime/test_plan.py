"""The planner: Project + observed Engine state -> actions (no Docker needed)."""

from __future__ import annotations

import pytest

from supervisor.runtime import plan as P
from supervisor.runtime import spec as S
from supervisor.runtime.errors import DependencyCycle, ImageMissing, InvalidSpec

from .helpers import project_from

STACK = """
services:
  db:
    image: pg
    volumes: [data:/var/lib/postgresql/data]
  migrate:
    image: tool
    depends_on:
      db: {condition: service_healthy}
  api:
    image: api
    depends_on:
      migrate: {condition: service_completed_successfully}
      db: {condition: service_healthy}
  web:
    image: web
    depends_on: [api]
volumes:
  data:
"""


def running(project, service, number=1, *, state="running", digest=None, image_id="sha256:img"):
    spec = S.container_spec(project, service, number)
    return P.ObservedContainer(
        id=f"id-{service}-{number}",
        name=spec.name,
        service=service,
        number=number,
        config_hash=digest or spec.config_hash,
        image_id=image_id,
        state=state,
    )


@pytest.fixture()
def stack(tmp_path):
    return project_from(tmp_path, STACK)


def test_start_order_puts_dependencies_first(stack):
    assert P.start_order(stack) == ["db", "migrate", "api", "web"]


def test_dependencies_long_form(stack):
    assert P.dependencies(stack, "api") == [
        P.Dependency("migrate", "service_completed_successfully"),
        P.Dependency("db", "service_healthy"),
    ]
    assert P.dependencies(stack, "web") == [P.Dependency("api", "service_started")]


def test_cycle_is_refused(tmp_path):
    # The resolver refuses a cycle in the files, as compose does; the planner still guards
    # against one in a project built another way.
    project = project_from(
        tmp_path,
        """
        services:
          a: {image: x, depends_on: [b]}
          b: {image: x}
    """,
    )
    back = {"a": {"condition": "service_started", "required": True}}
    project.services["b"].config["depends_on"] = back
    project.config["services"]["b"]["depends_on"] = back
    with pytest.raises(DependencyCycle, match="a -> b -> a|b -> a -> b"):
        P.start_order(project)


def test_selected_service_brings_its_dependencies(stack):
    assert P.select_services(stack, ["api"]) == ["db", "migrate", "api"]
    assert P.select_services(stack, ["api"], with_deps=False) == ["api"]
    with pytest.raises(InvalidSpec, match="no such service: nope"):
        P.select_services(stack, ["nope"])


def test_fresh_project_creates_everything(stack):
    plan = P.plan_up(stack, P.Observed())
    assert plan.actions() == [
        "create network demo_default",
        "create volume demo_data",
        "create demo-db-1",
        "create demo-migrate-1",
        "create demo-api-1",
        "create demo-web-1",
    ]


def test_existing_network_and_volume_are_not_recreated(stack):
    observed = P.Observed(networks={"demo_default": {}}, volumes={"demo_data": {}})
    plan = P.plan_up(stack, observed)
    assert plan.networks == [] and plan.volumes == []


def test_unchanged_running_containers_are_kept(stack):
    observed = P.Observed(containers=[running(stack, s) for s in ("db", "migrate", "api", "web")])
    plan = P.plan_up(stack, observed)
    assert [step.action for svc in plan.services for step in svc.steps] == ["keep"] * 4


def test_changed_service_alone_is_recreated(stack, tmp_path):
    observed = P.Observed(containers=[running(stack, s) for s in ("db", "migrate", "api", "web")])
    changed = project_from(tmp_path, STACK.replace("image: api", "image: api\n    environment: {X: '1'}"))
    plan = P.plan_up(changed, observed)
    actions = {svc.service: svc.steps[0].action for svc in plan.services}
    assert actions == {"db": "keep", "migrate": "keep", "api": "recreate", "web": "keep"}
    assert plan.service("api").steps[0].reason == "configuration changed"


def test_new_image_recreates(stack):
    observed = P.Observed(containers=[running(stack, "db", image_id="sha256:old")], images={"pg": "sha256:new"})
    step = P.plan_up(stack, observed, ["db"]).service("db").steps[0]
    assert (step.action, step.reason) == ("recreate", "image changed")


def test_stopped_container_is_started_and_force_recreate_recreates(stack):
    observed = P.Observed(containers=[running(stack, "db", state="exited")])
    assert P.plan_up(stack, observed, ["db"]).service("db").steps[0].action == "start"
    assert P.plan_up(stack, observed, ["db"], force_recreate=True).service("db").steps[0].action == "recreate"


def test_no_recreate_keeps_a_changed_container(stack):
    observed = P.Observed(containers=[running(stack, "db", digest="other")])
    assert P.plan_up(stack, observed, ["db"], no_recreate=True).service("db").steps[0].action == "keep"


def test_orphans_are_reported_or_removed(stack):
    orphan = P.ObservedContainer("id-old", "demo-old-1", "old", 1, "h", "i", "running")
    plan = P.plan_up(stack, P.Observed(containers=[orphan]))
    assert plan.orphans == [orphan] and "remove orphan demo-old-1" not in plan.actions()
    assert any("--remove-orphans" in w for w in plan.warnings)
    plan = P.plan_up(stack, P.Observed(containers=[orphan]), remove_orphans=True)
    assert plan.actions()[2] == "remove orphan demo-old-1"


def test_replicas_scale_up_and_down(tmp_path):
    three = project_from(tmp_path, "services:\n  w: {image: x, deploy: {replicas: 3}}\n")
    plan = P.plan_up(three, P.Observed())
    assert [s.spec.name for s in plan.service("w").steps] == ["demo-w-1", "demo-w-2", "demo-w-3"]
    # replicas: 1, not a removed deploy block: compose hashes an empty deploy, but not its replicas
    one = project_from(tmp_path, "services:\n  w: {image: x, deploy: {replicas: 1}}\n")
    observed = P.Observed(containers=[running(three, "w", n) for n in (1, 2, 3)])
    plan = P.plan_up(one, observed)
    assert [c.name for c in plan.service("w").remove] == ["demo-w-2", "demo-w-3"]
    assert plan.service("w").steps[0].action == "keep"


def test_optional_dependency_on_a_disabled_service_is_skipped(tmp_path):
    project = project_from(
        tmp_path,
        """
        services:
          app:
            image: x
            depends_on:
              cache: {condition: service_started, required: false}
          cache: {image: y, profiles: [extra]}
    """,
    )
    assert P.plan_up(project, P.Observed()).service("app").depends_on == []


def test_builds_missing_images_only_unless_asked(tmp_path):
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    project = project_from(
        tmp_path,
        """
        services:
          w:
            build: {context: ., args: {V: "1"}}
            image: local/w:dev
          r: {image: local/w:dev}
    """,
    )
    [step] = P.plan_builds(project, ["r", "w"], {})
    assert (step.image, step.args, step.reason) == ("local/w:dev", {"V": "1"}, "image missing")
    assert P.plan_builds(project, ["r", "w"], {"local/w:dev": "sha256:x"}) == []
    assert len(P.plan_builds(project, ["w"], {"local/w:dev": "sha256:x"}, build=True)) == 1
    with pytest.raises(ImageMissing, match="--no-build"):
        P.plan_builds(project, ["w"], {}, no_build=True)


def test_down_removes_dependents_first_and_volumes_only_with_v(stack):
    observed = P.Observed(
        containers=[running(stack, s) for s in ("db", "web", "api")],
        networks={"demo_default": {"com.docker.compose.project": "demo"}},
        volumes={"demo_data": {"com.docker.compose.project": "demo"}, "other": {}},
    )
    down = P.plan_down("demo", observed, project=stack)
    assert [c.service for c in down.containers] == ["web", "api", "db"]
    # what waits for what: db after its dependents (migrate has no container here), api after web
    assert down.after == {"api": ["web"], "db": ["api"], "web": []}
    assert down.networks == ["demo_default"] and down.volumes == []
    assert P.plan_down("demo", observed, project=stack, volumes=True).volumes == ["demo_data"]


def test_down_keeps_orphans_unless_asked(stack):
    orphan = P.ObservedContainer("id-old", "demo-old-1", "old", 1, "h", "i", "running")
    observed = P.Observed(containers=[running(stack, "db"), orphan])
    assert [c.name for c in P.plan_down("demo", observed, project=stack).containers] == ["demo-db-1"]
    assert len(P.plan_down("demo", observed, project=stack, remove_orphans=True).containers) == 2
    assert len(P.plan_down("demo", observed).containers) == 2  # -p NAME without files: everything


def test_down_without_files_orders_by_the_depends_on_labels():
    def seen(service, deps=()):
        return P.ObservedContainer(
            f"id-{service}", f"demo-{service}-1", service, 1, "h", "i", "running", depends_on=deps
        )

    observed = P.Observed(containers=[seen("db"), seen("web", ("db", "cache")), seen("cache"), seen("side")])
    assert P.plan_down("demo", observed).after == {"cache": ["web"], "db": ["web"], "side": [], "web": []}


def test_down_of_named_services(stack):
    def seen(service, deps=()):
        return P.ObservedContainer(
            f"id-{service}", f"demo-{service}-1", service, 1, "h", "i", "running", depends_on=deps
        )

    # without files, what depends on a named service goes too (labels, transitively), as in compose
    observed = P.Observed(
        containers=[seen("db"), seen("api", ("db",)), seen("web", ("api",)), seen("side")],
        networks={"demo_default": {"com.docker.compose.project": "demo"}},
    )
    down = P.plan_down("demo", observed, services=("db",))
    assert sorted(c.service for c in down.containers) == ["api", "db", "web"]
    assert down.after["db"] == ["api"] and down.after["api"] == ["web"]
    assert down.networks == ["demo_default"]  # still tried: it stays while side uses it
    assert [c.service for c in P.plan_down("demo", observed, services=("web",)).containers] == ["web"]
    # with files, only the named ones
    with_files = P.Observed(containers=[running(stack, s) for s in ("db", "web", "api")])
    assert [c.service for c in P.plan_down("demo", with_files, project=stack, services=("db",)).containers] == ["db"]
