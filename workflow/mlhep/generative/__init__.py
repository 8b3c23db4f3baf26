"""Generative models of the dimuon toy as fast simulation: a conditional GAN and a
WGAN-GP in a physics-aware, reversible representation of the events
(:mod:`mlhep.data.dimuon.representation`), their training (:mod:`.gan`), sampling into a
ROOT dataset, and their fidelity judged against the noise floor of two real samples and
against the exact physics (:mod:`.fidelity`, :mod:`.distances`); figures in :mod:`.figures`.

References: Goodfellow et al., arXiv:1406.2661 (the minimax game); Gulrajani et al.,
arXiv:1704.00028 (WGAN with gradient penalty); Butter, Plehn and Winterhalder,
arXiv:1907.03764 (how to GAN LHC events: resonances need help); Kansal et al.,
arXiv:2211.10295 (FPD and KPD).
"""
