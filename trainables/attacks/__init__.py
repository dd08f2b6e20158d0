"""Attack registry: FGSM, RS-FGSM, N-FGSM, PGD (L∞/L2, restarts), TRADES-KL (method.md §3).

Configs give ε and α in 1/255 units; ``build_attack`` converts them to pixel units once.
"""
from __future__ import annotations

from trainables.attacks.base import Attack, AttackResult, bn_mode
from trainables.schema.registry import Registry

ATTACKS: Registry[type[Attack]] = Registry("attack")

from trainables.attacks import fgsm, n_fgsm, pgd, rs_fgsm, trades_kl  # noqa: E402,F401  (fill ATTACKS)


def build_attack(name: str, epsilon: float, alpha: float | None = None, **kwargs) -> Attack:
    """Build a registered attack from ε and α given in 1/255 units (α None: the attack's default).

    >>> atk = build_attack("pgd", 8, steps=10)
    >>> type(atk).__name__, round(atk.eps * 255, 6), round(atk.alpha * 255, 6), atk.steps   # α = ε/4
    ('PGD', 8.0, 2.0, 10)
    >>> round(build_attack("rs_fgsm", 8).alpha * 255, 6)   # α = 1.25ε (fast_adversarial)
    10.0
    >>> ATTACKS.names()
    ['fgsm', 'n_fgsm', 'pgd', 'rs_fgsm', 'trades_kl']
    """
    cls = ATTACKS.get(name)
    eps = epsilon / 255.0
    step = cls.default_alpha(eps) if alpha is None else alpha / 255.0
    return cls(eps=eps, alpha=step, **kwargs)


__all__ = ["ATTACKS", "Attack", "AttackResult", "bn_mode", "build_attack"]
