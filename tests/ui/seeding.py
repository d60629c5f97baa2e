"""API keys and a small, varied registry, made through the HTTP API of a live server (as a user
would make them), for the browser tests.

The registry (:func:`seed_registry`):

* ``fraud_model`` — a lineage of five versions, each but the first made with
  ``POST /models/{id}/versions`` from the one before: v1.0, v1.1, v1.2 (xgboost), v2.0 (a breaking
  change to lightgbm), v2.1 (no file: the one version the UI can offer an upload for).
  Hyperparameters, metrics (accuracy, f1_score, auc) and dataset differ between versions.
  ``production`` was set to v1.1, then moved to v1.2 (alias history); ``staging`` is v2.0.
  v1.0's status was changed active → deprecated after registration (a status change in its
  history). v1.2 was downloaded 3 times.
* ``churn_model`` — random_forest, v1.0 (registered archived) and v1.1 (``POST /models`` with the
  same name), pickle files; ``production`` is v1.1, downloaded once.
* ``recommender`` — neural_network, v1.0 and v1.1 (ONNX files), metrics ndcg / precision / recall.
* ``image_classifier`` — cnn, one version (safetensors file).
"""

from __future__ import annotations

import hashlib
import json
import pickle
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from .live import LiveServer

MODELS = "/api/v1/models"
DOWNLOAD_WAIT_S = 10.0


@dataclass(frozen=True)
class ApiKeys:
    """Keys created with ``POST /api/v1/keys``: one per scope (each key's name is its actor)."""

    read: str  # actor "ui-reader": GET/HEAD only
    write: str  # actor "ui-writer": register, update, upload, aliases
    admin: str  # actor "ui-admin": keys and the audit log too

    READ_NAME = "ui-reader"
    WRITE_NAME = "ui-writer"
    ADMIN_NAME = "ui-admin"


def create_key(server: LiveServer, name: str, scope: str) -> str:
    with server.client() as client:  # the bootstrap admin key
        response = client.post("/api/v1/keys", json={"name": name, "scopes": [scope]})
    if response.status_code != 201:
        raise RuntimeError(f"creating the {scope} key failed: {response.status_code} {response.text}")
    return response.json()["key"]


def create_keys(server: LiveServer) -> ApiKeys:
    return ApiKeys(read=create_key(server, ApiKeys.READ_NAME, "read"),
                   write=create_key(server, ApiKeys.WRITE_NAME, "write"),
                   admin=create_key(server, ApiKeys.ADMIN_NAME, "admin"))


@dataclass
class SeededRegistry:
    """What :func:`seed_registry` made. ``ids[name][version]`` is a version's id (versions in the
    order they were made); ``models[id]`` its ``GET /api/v1/models/{id}`` body once seeding was
    done; ``aliases[name][alias]`` the version an alias points at now, ``alias_history`` the
    versions it pointed at, in order; ``downloads[id]`` the downloads made."""

    ids: dict[str, dict[str, str]] = field(default_factory=dict)
    models: dict[str, dict[str, Any]] = field(default_factory=dict)
    aliases: dict[str, dict[str, str]] = field(default_factory=dict)
    alias_history: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    downloads: dict[str, int] = field(default_factory=dict)
    status_changed: tuple[str, str, str, str] = ("", "", "", "")  # name, version, from, to
    without_file: tuple[str, str] = ("", "")  # name, version

    def id(self, name: str, version: str) -> str:
        return self.ids[name][version]

    def model(self, name: str, version: str) -> dict[str, Any]:
        return self.models[self.id(name, version)]

    @property
    def names(self) -> list[str]:
        return list(self.ids)

    def versions(self, name: str) -> list[str]:
        return list(self.ids[name])

    @property
    def total_versions(self) -> int:
        return sum(len(versions) for versions in self.ids.values())


class _Seeder:
    def __init__(self, client: httpx.Client, reader: httpx.Client):
        self.client = client
        self.reader = reader
        self.seeded = SeededRegistry()

    def _ok(self, response: httpx.Response, status: int = 200) -> dict[str, Any]:
        if response.status_code != status:
            raise RuntimeError(f"{response.request.method} {response.request.url.path} answered "
                               f"{response.status_code}: {response.text[:500]}")
        return response.json()

    def _record(self, body: dict[str, Any]) -> str:
        self.seeded.ids.setdefault(body["name"], {})[body["version"]] = body["model_id"]
        return body["model_id"]

    def register(self, **document: Any) -> str:
        return self._record(self._ok(self.client.post(MODELS, json=document), 201))

    def derive(self, base_id: str, **changes: Any) -> str:
        return self._record(self._ok(self.client.post(f"{MODELS}/{base_id}/versions", json=changes), 201))

    def upload(self, model_id: str, filename: str, content: bytes) -> None:
        checksum = "sha256:" + hashlib.sha256(content).hexdigest()
        self._ok(self.client.post(f"{MODELS}/{model_id}/upload", params={"filename": filename}, content=content,
                                  headers={"Content-Type": "application/octet-stream",
                                           "X-File-Checksum": checksum}), 201)

    def set_alias(self, name: str, alias: str, version: str) -> None:
        self._ok(self.client.put(f"{MODELS}/by-name/{name}/aliases/{alias}", json={"version": version}))
        self.seeded.aliases.setdefault(name, {})[alias] = version
        self.seeded.alias_history.setdefault((name, alias), []).append(version)

    def set_status(self, name: str, version: str, status: str) -> None:
        model_id = self.seeded.id(name, version)
        before = self._ok(self.client.get(f"{MODELS}/{model_id}"))["status"]
        self._ok(self.client.put(f"{MODELS}/{model_id}", json={"status": status}))
        self.seeded.status_changed = (name, version, before, status)

    def download(self, model_id: str, times: int) -> None:
        for _ in range(times):
            response = self.reader.get(f"{MODELS}/{model_id}/download")
            if response.status_code != 200:
                raise RuntimeError(f"download of {model_id} answered {response.status_code}: {response.text[:300]}")
        self.seeded.downloads[model_id] = self.seeded.downloads.get(model_id, 0) + times

    def settle_downloads(self) -> None:
        """A download is counted once its last byte is sent, just after the answer: wait until
        every count shows, so the seeded numbers are what a page will read."""
        deadline = time.monotonic() + DOWNLOAD_WAIT_S
        for model_id, times in self.seeded.downloads.items():
            while self._ok(self.client.get(f"{MODELS}/{model_id}"))["download_count"] < times:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the downloads of {model_id} were not counted within {DOWNLOAD_WAIT_S} s")
                time.sleep(0.05)

    def snapshot(self) -> None:
        for versions in self.seeded.ids.values():
            for model_id in versions.values():
                self.seeded.models[model_id] = self._ok(self.client.get(f"{MODELS}/{model_id}"))


def _json_file(document: dict[str, Any]) -> bytes:
    return json.dumps(document, indent=1).encode()


def seed_registry(server: LiveServer, keys: ApiKeys) -> SeededRegistry:
    """Fill ``server``'s registry (see the module's docstring); writes as ``keys.write``."""
    with server.client(keys.write) as client, server.client(keys.read) as reader:
        seeder = _Seeder(client, reader)
        _fraud(seeder)
        _churn(seeder)
        _recommender(seeder)
        seeder.register(name="image_classifier", algorithm="cnn", format="safetensors",
                        hyperparameters={"layers": 50, "dropout": 0.2, "optimizer": {"name": "adam", "lr": 0.001}},
                        metrics={"top1_accuracy": 0.781, "top5_accuracy": 0.934},
                        dataset_info={"name": "imagenet_subset", "images": 250_000, "classes": 100},
                        tags=["vision", "cnn"], description="ResNet-50 fine-tuned on a 100-class subset")
        seeder.upload(seeder.seeded.id("image_classifier", "v1.0"), "model.safetensors", b"\x08\x00" + b"\x00" * 510)
        seeder.settle_downloads()
        seeder.snapshot()
        return seeder.seeded


def _fraud(seeder: _Seeder) -> None:
    v10 = seeder.register(
        name="fraud_model", algorithm="xgboost", format="xgboost",
        hyperparameters={"n_estimators": 100, "max_depth": 6, "learning_rate": 0.1, "subsample": 0.8},
        metrics={"accuracy": 0.912, "f1_score": 0.874, "auc": 0.951},
        dataset_info={"name": "transactions_2024q1", "rows": 1_200_000, "features": ["amount", "merchant", "hour"]},
        tags=["fraud", "tabular"], description="Card fraud detector: the first baseline")
    seeder.upload(v10, "model.json", _json_file({"learner": {"trees": 100}, "version": "1.0"}))
    v11 = seeder.derive(v10, hyperparameters={"n_estimators": 200, "max_depth": 6, "learning_rate": 0.05,
                                              "subsample": 0.8},
                        metrics={"accuracy": 0.925, "f1_score": 0.889, "auc": 0.962},
                        description="More trees, a lower learning rate")
    seeder.upload(v11, "model.json", _json_file({"learner": {"trees": 200}, "version": "1.1"}))
    v12 = seeder.derive(v11, hyperparameters={"n_estimators": 200, "max_depth": 8, "learning_rate": 0.05,
                                              "subsample": 0.9},
                        metrics={"accuracy": 0.931, "f1_score": 0.897, "auc": 0.968},
                        dataset_info={"name": "transactions_2024q2", "rows": 1_500_000,
                                      "features": ["amount", "merchant", "hour", "country"]},
                        tags=["fraud", "tabular", "production-candidate"])
    seeder.upload(v12, "model.json", _json_file({"learner": {"trees": 200, "depth": 8}, "version": "1.2"}))
    v20 = seeder.derive(v12, breaking_changes=True, algorithm="lightgbm", format="lightgbm",
                        hyperparameters={"num_leaves": 63, "learning_rate": 0.05, "n_estimators": 400},
                        metrics={"accuracy": 0.944, "f1_score": 0.912, "auc": 0.975},
                        description="Moved to LightGBM: new feature pipeline")
    seeder.upload(v20, "model.txt", b"tree\nversion=v3\nnum_class=1\n" + b"Tree=0\n" * 40)
    seeder.derive(v20, metrics={"accuracy": 0.947, "f1_score": 0.915, "auc": 0.977},
                  description="Retrained on more data: file not uploaded yet")
    seeder.seeded.without_file = ("fraud_model", "v2.1")
    seeder.set_alias("fraud_model", "production", "v1.1")
    seeder.set_alias("fraud_model", "staging", "v2.0")
    seeder.set_alias("fraud_model", "production", "v1.2")
    seeder.set_status("fraud_model", "v1.0", "deprecated")
    seeder.download(v12, 3)


def _churn(seeder: _Seeder) -> None:
    v10 = seeder.register(
        name="churn_model", algorithm="random_forest", status="archived",
        hyperparameters={"n_estimators": 150, "max_depth": 8, "class_weight": "balanced"},
        metrics={"accuracy": 0.871, "f1_score": 0.802, "precision": 0.83, "recall": 0.776},
        dataset_info={"name": "customers_2024", "rows": 84_000}, tags=["churn", "tabular"],
        description="Customer churn: random forest")
    seeder.upload(v10, "model.pkl", pickle.dumps({"trees": 150, "depth": 8}))
    v11 = seeder.register(
        name="churn_model", algorithm="random_forest",
        hyperparameters={"n_estimators": 300, "max_depth": 10, "class_weight": "balanced"},
        metrics={"accuracy": 0.889, "f1_score": 0.823, "precision": 0.851, "recall": 0.797},
        dataset_info={"name": "customers_2024", "rows": 91_000}, tags=["churn", "tabular", "production"])
    seeder.upload(v11, "model.pkl", pickle.dumps({"trees": 300, "depth": 10}))
    seeder.set_alias("churn_model", "production", "v1.1")
    seeder.download(v11, 1)


def _recommender(seeder: _Seeder) -> None:
    v10 = seeder.register(
        name="recommender", algorithm="neural_network", format="onnx",
        hyperparameters={"embedding_dim": 64, "layers": [256, 128], "dropout": 0.1},
        metrics={"ndcg_at_10": 0.412, "precision_at_10": 0.188, "recall_at_10": 0.301},
        dataset_info={"name": "clicks_30d", "users": 2_000_000, "items": 150_000},
        tags=["ranking", "embeddings"], description="Two-tower recommender")
    seeder.upload(v10, "model.onnx", b"\x08\x07\x12\x04onnx" + b"\x00" * 200)
    v11 = seeder.derive(v10, hyperparameters={"embedding_dim": 128, "layers": [512, 256], "dropout": 0.2},
                        metrics={"ndcg_at_10": 0.436, "precision_at_10": 0.197, "recall_at_10": 0.322})
    seeder.upload(v11, "model.onnx", b"\x08\x07\x12\x04onnx" + b"\x01" * 200)
