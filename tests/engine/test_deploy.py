"""The cluster configurations in deploy/ are valid where no cloud is at hand (issue 19).

* ``deploy/ray-up-onprem.yaml`` goes through what ``ray up`` does before it connects anywhere
  (Ray's ``_bootstrap_config``: defaults, Ray's JSON schema, the local provider's checks).
* ``deploy/kuberay-raycluster.yaml`` is validated against ``deploy/raycluster.schema.json`` (the
  RayCluster v1 fields it uses), and against KubeRay's CRD itself when ``KUBERAY_CRD`` names the
  CRD file (``ray-operator/config/crd/bases/ray.io_rayclusters.yaml`` of a KubeRay release).

The two-node recipe (``deploy/two_nodes_one_machine.sh``) is driven end to end by
``tests/engine/test_cluster.py`` (slow).
"""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path

import jsonschema
import pytest
import yaml

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def ray_up_config() -> dict:
    return yaml.safe_load((DEPLOY / "ray-up-onprem.yaml").read_text())


def manifests() -> dict[str, dict]:
    return {d["kind"]: d for d in yaml.safe_load_all((DEPLOY / "kuberay-raycluster.yaml").read_text())}


def raycluster_schema() -> dict:
    return json.loads((DEPLOY / "raycluster.schema.json").read_text())


def test_the_ray_up_config_passes_ray_ups_own_checks_and_starts_nodes_with_token_auth():
    from ray.autoscaler._private.commands import _bootstrap_config

    cfg = ray_up_config()
    resolved = _bootstrap_config(cfg, no_config_cache=True)  # what `ray up` runs before SSH
    assert resolved["max_workers"] == len(cfg["provider"]["worker_ips"])
    head, workers = " ".join(cfg["head_start_ray_commands"]), " ".join(cfg["worker_start_ray_commands"])
    assert "RAY_AUTH_MODE=token ray start --head" in head and "--num-cpus=0" in head
    assert "RAY_AUTH_MODE=token ray start --address=$RAY_HEAD_IP:6379" in workers
    assert "~/.ray/auth_token" in cfg["file_mounts"]
    with pytest.raises(jsonschema.ValidationError, match="not of type 'array'"):
        _bootstrap_config({**cfg, "head_start_ray_commands": "ray start --head"}, no_config_cache=True)
    with pytest.raises(jsonschema.ValidationError, match="Additional properties"):
        _bootstrap_config({**cfg, "worker_start_commands": []}, no_config_cache=True)  # misspelt


def test_the_raycluster_manifest_is_valid_and_matches_this_ray():
    import ray

    docs = manifests()
    assert set(docs) == {"PersistentVolumeClaim", "RayCluster"}
    rc = docs["RayCluster"]
    jsonschema.validate(rc, raycluster_schema())
    spec = rc["spec"]
    assert spec["rayVersion"] == ray.__version__ and spec["authOptions"]["mode"] == "token"
    assert spec["headGroupSpec"]["rayStartParams"]["num-cpus"] == "0"
    claim = docs["PersistentVolumeClaim"]["metadata"]["name"]
    volumes = spec["headGroupSpec"]["template"]["spec"]["volumes"]
    assert [v["persistentVolumeClaim"]["claimName"] for v in volumes] == [claim]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda rc: rc["spec"]["headGroupSpec"]["rayStartParams"].update({"num-cpus": 0}), "is not of type 'string'"),
        (lambda rc: rc["spec"]["workerGroupSpecs"][0].pop("minReplicas"), "'minReplicas' is a required property"),
        (lambda rc: rc["spec"]["authOptions"].update({"mode": "tokens"}), "is not one of"),
        (lambda rc: rc["spec"].update({"workerGroupSpec": []}), "Additional properties"),
    ],
    ids=["number-in-rayStartParams", "no-minReplicas", "bad-auth-mode", "misspelt-key"],
)
def test_the_raycluster_check_rejects_the_usual_mistakes(change, message):
    rc = copy.deepcopy(manifests()["RayCluster"])
    change(rc)
    with pytest.raises(jsonschema.ValidationError, match=message):
        jsonschema.validate(rc, raycluster_schema())


@pytest.mark.skipif(not os.environ.get("KUBERAY_CRD"), reason="KUBERAY_CRD names no KubeRay RayCluster CRD file")
def test_the_raycluster_manifest_is_valid_against_kuberays_crd():
    crd = yaml.safe_load(Path(os.environ["KUBERAY_CRD"]).read_text())
    v1 = next(v for v in crd["spec"]["versions"] if v["name"] == "v1")
    jsonschema.validate(manifests()["RayCluster"], v1["schema"]["openAPIV3Schema"])
