"""Rule z_peak: an unbinned maximum-likelihood fit of the Z peak in the mass of one class
(Voigt over an exponential, iminuit), its goodness of fit by refitted toys, and the figures."""

from mlhep.worker import hand_over

hand_over()  # the job runs in the invocation's warm worker where one serves

import pandas as pd

from mlhep import io, plotting
from mlhep.runlog import script_log
from mlhep.studies.zpeak import fit_z_peak, goodness_of_fit, z_peak_figures

with script_log(snakemake.log[0]) as log:
    p = snakemake.params
    frame = pd.read_parquet(snakemake.input.features, columns=["label", p.column])
    mass = frame.loc[frame["label"] == p.label, p.column].to_numpy(float)
    fit = fit_z_peak(mass, (float(p.window[0]), float(p.window[1])))
    log.info(
        "%d of %d events (label %s) in %s, valid %s",
        fit.n_events,
        len(mass),
        p.label,
        fit.window,
        fit.valid,
    )
    for name, value in fit.values.items():
        log.info("%s = %.4f +- %.4f", name, value, fit.errors[name])
    log.info("deviation from the PDG (sigma): %s", fit.deviations())
    gof = goodness_of_fit(mass, fit, bins=p.bins, toys=p.toys, seed=p.seed)
    log.info(
        "deviance %.2f, p = %.3f (%d toys, %.1f s), KS %.4f",
        gof.deviance,
        gof.p_value,
        len(gof.toy_deviances),
        gof.seconds,
        gof.ks_statistic,
    )
    io.write_json(snakemake.output.fit, {**fit.to_dict(), "goodness_of_fit": gof.to_dict()})
    fig_fit, fig_gof = z_peak_figures(mass, fit, gof, bins=p.bins)
    plotting.save_figure(fig_fit, snakemake.output.figure)
    plotting.save_figure(fig_gof, snakemake.output.gof)
