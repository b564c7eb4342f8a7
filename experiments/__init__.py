"""The numerical checks of the papers' claims, one module per experiment.

Run one with ``python -m experiments H1 [--quick]``, all of them with ``python -m experiments all``
(what ``nox -s experiments`` does); each writes ``results/<ID>/`` and the claims ledgers in
``papers/`` are regenerated from those files.
"""

from __future__ import annotations

import importlib
from types import ModuleType

#: Experiment id -> module (relative to this package). Order is the ledger's row order.
REGISTRY: dict[str, str] = {
    "H1": "h1_eps_scaling",
    "H2": "h2_k_scaling",
    "H3": "h3_m_scaling",
    "H4": "h4_metastable_structure",
    "H5": "h5_meta_chain",
    "P1": "p1_pretraining",
    "S1": "s1_search_recovery",
    "S2": "s2_cluster_identification",
    "S3": "s3_prm",
    "R1": "r1_ppo_clip",
    "D1": "d1_meta_chain_estimation",
    "D2": "d2_distilled_model",
    "L1": "l1_local_information",
    "C1": "c1_compute_accounting",
    "M1": "m1_teacher_similarity",
    "M2": "m2_sample_size",
    "M3": "m3_reference_graphs",
    "M4": "m4_mixing",
    "M5": "m5_geometry",
    "M6": "m6_oscillation",
    "M7": "m7_chain_oscillation",
    "M8": "m8_compression",
    "M9": "m9_invariance",
    "M10": "m10_chain_transforms",
    "M11": "m11_labeller",
    "M12": "m12_markov_order",
    "M13": "m13_semantic_msm",
    "X1": "x1_molesyn",
    "X2": "x2_structure_transfer",
}


def load(exp_id: str) -> ModuleType:
    """The module of experiment ``exp_id`` (case-insensitive)."""
    key = exp_id.upper()
    if key not in REGISTRY:
        raise KeyError(f"unknown experiment {exp_id!r}; known: {', '.join(REGISTRY)}")
    return importlib.import_module(f"experiments.{REGISTRY[key]}")
