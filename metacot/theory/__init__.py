"""The metastable-dynamics paper's algorithms (Kim, Wu, Lee, Suzuki, ICML 2025).

- :mod:`~metacot.theory.counts` — transition counts of one long trajectory (Algorithm 1's data);
- :mod:`~metacot.theory.pretrain` — two-stage pretraining of a softmax logit table (Algorithm 1);
- :mod:`~metacot.theory.search` — Sparse Edge Search and the PRM-guided chain (Algorithm 2);
- :mod:`~metacot.theory.rl` — PPO-Clip fine-tuning with advantage on discovered edges (Algorithm 3);
- :mod:`~metacot.theory.distill` — meta-chain distillation with time rescaling (Algorithm 4);
- :mod:`~metacot.theory.logic` — the group-action logic task and local vs global learners (§5);
- :mod:`~metacot.theory.walk` — the walkers' step and random value, on the simulator's Philox
  stream and alias tables (so every path equals the corresponding ``metacot.simulate`` path).

Details the paper leaves open are marked [R] in the docstrings; each is a parameter.
"""

from metacot.theory import counts, distill, logic, pretrain, rl, search, walk
from metacot.theory.counts import TransitionCounts, transition_counts
from metacot.theory.distill import Distillation, distill_exact, time_rescaling
from metacot.theory.distill import distill as distill_meta_chain
from metacot.theory.logic import LogicTask, logic_task
from metacot.theory.pretrain import PretrainResult
from metacot.theory.pretrain import pretrain as pretrain_two_stage
from metacot.theory.rl import LogitTable, PPOResult, logits_from_chain, ppo_clip, predicted_iterations
from metacot.theory.search import (
    SearchResult,
    precision_recall,
    prm_chain,
    search_parameters,
    sparse_edge_search,
    true_sparse_edges,
)

__all__ = [
    "Distillation",
    "LogicTask",
    "LogitTable",
    "PPOResult",
    "PretrainResult",
    "SearchResult",
    "TransitionCounts",
    "counts",
    "distill",
    "distill_exact",
    "distill_meta_chain",
    "logic",
    "logic_task",
    "logits_from_chain",
    "ppo_clip",
    "precision_recall",
    "predicted_iterations",
    "pretrain",
    "pretrain_two_stage",
    "prm_chain",
    "rl",
    "search",
    "search_parameters",
    "sparse_edge_search",
    "time_rescaling",
    "transition_counts",
    "true_sparse_edges",
    "walk",
]
