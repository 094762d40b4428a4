"""Posterior sampling: Markov chain Monte Carlo draws of the low-dimensional controls (uniform and
multi-linear / multi-power mappings, structural error parameters) from the log-posterior that
bayesian_optimize maximizes, with emcee's affine-invariant ensemble sampler (Goodman & Weare, 2010;
Foreman-Mackey et al., 2013), and the posterior predictive discharge at the calibrated gauges.

The chain lives in the "normalize" control space: an affine map of the raw values, so the density
there is the raw posterior up to a constant (no Jacobian term), and the bounds of every control are
the box [0, 1] (a uniform prior on the bounds, times any control_prior given).
"""

from __future__ import annotations

import time

import numpy as np

from smash.bayesian import serr as _serr
from smash.bayesian.optimize import _BayesianProblem, _prepare
from smash.optional import require
from smash.results import Result
from smash.simulation import work_split
from smash.simulation.forward import check_common_options

SAMPLING_MAPPINGS = ("uniform", "multi-linear", "multi-power")
# Beyond this many controls an ensemble sampler mixes too slowly to be of use: refuse rather than
# return chains that have not left their start.
MAX_CONTROLS = 60


class Posterior(Result):
    """What sample_posterior returns.

    Attributes
    ----------
    names : ndarray of str
        Control names (as bayesian_optimize_control_info names them).
    chain : ndarray (n_steps, n_walkers, n_controls)
        Raw control values of every walker at every kept step (after `burn`, every `thin`).
    log_posterior : ndarray (n_steps, n_walkers)
        log_lkh + log_prior at each kept sample.
    acceptance : ndarray (n_walkers,)
        Acceptance fraction of each walker over the whole run.
    autocorr_time : ndarray (n_controls,)
        Integrated autocorrelation time of each control, in steps (emcee's estimate; NaN where the
        chain is too short to estimate it, see `autocorr_reliable`).
    autocorr_reliable : bool
        Whether the chain is longer than 50 autocorrelation times (emcee's rule of thumb).
    rhat : ndarray (n_controls,)
        Split-R-hat of each control over the walkers (Gelman-Rubin; near 1 once they agree).
    codes : ndarray of str
        Codes of the calibrated gauges.
    time_step : int
        Number of simulated steps.
    q_quantiles : ndarray (n_quantiles, n_gauges, ntime_step)
        Quantiles `quantiles` of the posterior predictive discharge (simulated discharge plus
        structural and observation errors) at the calibrated gauges.
    quantiles : tuple of float
    q_median_sim : ndarray (n_gauges, ntime_step)
        Median of the simulated discharge alone (without the error terms).
    samples_per_second : float
        Log-posterior evaluations per second of the sampling.

    Parameters
    ----------
    **values
        The attributes above, by name.
    """

    def to_arviz(self):
        """The chains as an arviz InferenceData (arviz must be installed).

        Returns
        -------
        arviz.InferenceData
            The posterior samples (walkers as arviz chains) and their log-posterior.
        """
        try:
            import arviz
        except ImportError as err:
            raise ImportError("Posterior.to_arviz needs arviz: pip install arviz") from err
        posterior = {str(n): np.swapaxes(self.chain[..., i], 0, 1) for i, n in enumerate(self.names)}
        return arviz.from_dict(posterior=posterior,
                               sample_stats={"lp": np.swapaxes(self.log_posterior, 0, 1)})


def _import_emcee():
    return require("emcee", "smash.sample_posterior", "uncertainty")


def split_rhat(chain: np.ndarray) -> np.ndarray:
    """Split-R-hat of each parameter of `chain` (n_steps, n_chains, n_parameters)."""
    n = chain.shape[0] // 2
    if n < 2:
        return np.full(chain.shape[-1], np.nan)
    halves = np.concatenate([chain[:n], chain[n:2 * n]], axis=1)   # (n, 2 m, p)
    means = halves.mean(axis=0)
    within = halves.var(axis=0, ddof=1).mean(axis=0)
    between = n * means.var(axis=0, ddof=1)
    var_plus = (n - 1) / n * within + between / n
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.sqrt(var_plus / within)


def sample_posterior(model, mapping="uniform", optimize_options=None, cost_options=None, n_walkers=None,
                     n_steps=1000, burn=None, thin=1, quantiles=(0.05, 0.5, 0.95), n_predictive=200,
                     init_spread=1e-2, random_state=None, common_options=None) -> Posterior:
    """Sample the posterior of the controls of `model` (left unchanged) with emcee.

    The log-posterior is bayesian_optimize's (log_lkh + log_prior of `cost_options['control_prior']`,
    uniform on the bounds), over the controls `optimize_options['parameters']` and bounds select
    (default: every rr parameter but ci and every structural error parameter, smash's defaults). The
    walkers start in a small ball (`init_spread`, in the normalized [0, 1] space) around the model's
    current values: start from a bayesian_optimize result for short burn-in.

    Parameters
    ----------
    model : Model
    mapping : str, default "uniform"
        "uniform", "multi-linear" or "multi-power" (low-dimensional controls).
    optimize_options : dict or None
        `parameters`, `bounds`, `descriptor` as for bayesian_optimize (the control transform is
        always "normalize" here).
    cost_options : dict or None
        `end_warmup`, `gauge`, `control_prior` as for bayesian_optimize.
    n_walkers : int or None
        Ensemble size (default: max(2 n_controls + 2, 16), even).
    n_steps : int, default 1000
        Steps of every walker.
    burn : int or None
        Steps discarded at the start (default: n_steps // 4).
    thin : int, default 1
        Keep every `thin`-th step after `burn`.
    quantiles : tuple of float, default (0.05, 0.5, 0.95)
        Quantiles of the posterior predictive discharge (the default gives the 90 % interval).
    n_predictive : int, default 200
        Posterior draws whose predictive discharge is simulated.
    init_spread : float, default 1e-2
    random_state : int or None
        Seed of the walkers' start, of emcee's moves and of the predictive draws.
    common_options : dict or None
        `ncpu` (threads of each run); `verbose` shows emcee's progress bar.

    Returns
    -------
    Posterior
    """
    emcee = _import_emcee()
    if mapping not in SAMPLING_MAPPINGS:
        raise ValueError(f"sample_posterior samples low-dimensional controls: mapping must be one of "
                         f"{list(SAMPLING_MAPPINGS)}, not {mapping!r}")
    common = check_common_options(common_options)
    options, burn, qs = _checked_sampling(optimize_options, n_steps, burn, quantiles)
    work = model.copy()
    work_split.use_threads(work, common["ncpu"])
    _, _, fcost, _, control, priors = _prepare(work, mapping, "lbfgsb", options, cost_options)
    problem = _BayesianProblem(work, control, fcost, priors)
    ndim = control.size
    if ndim > MAX_CONTROLS:
        raise ValueError(f"{ndim} controls: too many for an ensemble sampler (at most {MAX_CONTROLS}); sample "
                         "fewer parameters or descriptors")
    n_walkers = int(n_walkers or max(2 * ndim + 2, 16))
    n_walkers += n_walkers % 2
    if n_walkers < 2 * ndim:
        raise ValueError(f"n_walkers must be at least twice the number of controls ({2 * ndim}), got {n_walkers}")
    lower, upper = control.bounds_x()
    x0 = control.x_from_model()
    rng = np.random.default_rng(random_state)

    def log_prob(x):
        if np.any(x < lower) or np.any(x > upper):
            return -np.inf
        j = problem.cost(x)
        return -j * problem.nobs if np.isfinite(j) else -np.inf

    start = np.clip(x0 + init_spread * rng.standard_normal((n_walkers, ndim)) * (upper - lower), lower, upper)
    sampler = emcee.EnsembleSampler(n_walkers, ndim, log_prob)
    sampler.random_state = np.random.RandomState(rng.integers(2**31)).get_state()
    t0 = time.perf_counter()
    sampler.run_mcmc(start, n_steps, progress=bool(common["verbose"]))
    elapsed = time.perf_counter() - t0
    x_chain = sampler.get_chain(discard=burn, thin=thin)          # (n, walkers, ndim)
    lp = sampler.get_log_prob(discard=burn, thin=thin)
    raw_chain = np.stack([[control.raw_and_slope(x)[0] for x in step] for step in x_chain])
    tau = sampler.get_autocorr_time(discard=burn, quiet=True)
    reliable = bool(np.all(np.isfinite(tau)) and (n_steps - burn) > 50 * np.nanmax(tau))

    codes, q_quantiles, q_median_sim = _predictive(work, problem, control, x_chain.reshape(-1, ndim), qs,
                                                   n_predictive, rng)
    return Posterior(names=np.array(control.names()), chain=raw_chain, log_posterior=lp,
                     acceptance=np.asarray(sampler.acceptance_fraction), autocorr_time=np.asarray(tau),
                     autocorr_reliable=reliable, rhat=split_rhat(raw_chain), codes=codes,
                     time_step=int(model.setup.ntime_step), quantiles=tuple(float(q) for q in qs),
                     q_quantiles=q_quantiles, q_median_sim=q_median_sim,
                     samples_per_second=n_walkers * n_steps / elapsed, n_walkers=n_walkers, n_steps=n_steps,
                     burn=burn, thin=thin)


def _checked_sampling(optimize_options, n_steps, burn, quantiles):
    """(optimize_options in the normalize space, burn, quantiles as an array), checked."""
    options = dict(optimize_options or {})
    if options.get("control_tfm", "normalize") != "normalize":
        raise ValueError("sample_posterior works in the 'normalize' control space; leave control_tfm unset")
    options["control_tfm"] = "normalize"
    if not isinstance(n_steps, (int, np.integer)) or n_steps < 2:
        raise ValueError(f"n_steps must be an integer >= 2, got {n_steps!r}")
    burn = n_steps // 4 if burn is None else int(burn)
    if not 0 <= burn < n_steps:
        raise ValueError(f"burn must be in [0, n_steps), got {burn}")
    qs = np.asarray(quantiles, dtype=float)
    if qs.ndim != 1 or np.any((qs <= 0) | (qs >= 1)):
        raise ValueError(f"quantiles must lie in (0, 1), got {quantiles!r}")
    return options, burn, qs


def _predictive(model, problem, control, samples, qs, n_predictive, rng):
    """Quantiles of the posterior predictive discharge at the calibrated gauges: for each of n_predictive
    posterior draws, the simulated discharge plus a draw of the structural error N(mu(q), sigma(q)**2)
    and of the observation error N(0, u**2)."""
    gauges = control.gauges
    picks = rng.choice(len(samples), size=min(int(n_predictive), len(samples)), replace=False)
    nt = int(model.setup.ntime_step)
    u = model.u_response_data.q_stdev[gauges].astype(float)
    sims, draws = [], []
    for k in picks:
        problem.cost(samples[k])
        q = np.array(problem.output.q[gauges], dtype=float)
        model.response.q = np.array(problem.output.q[: model.mesh.ng], dtype=np.float32)
        mu, sigma = _serr.serr_moments(model)
        noise = rng.standard_normal((gauges.size, nt)) * np.sqrt(sigma[gauges] ** 2 + u ** 2)
        sims.append(q)
        draws.append(q + mu[gauges] + noise)
    codes = np.array([str(model.mesh.code[g]) for g in gauges])
    return codes, np.quantile(np.array(draws), qs, axis=0), np.median(np.array(sims), axis=0)


def plot_predictive(posterior: Posterior, model, gauge=None, ax=None, lower=0, upper=-1):
    """The posterior predictive band of one gauge over its observed discharge.

    Parameters
    ----------
    posterior : Posterior
        From sample_posterior.
    model : Model
        The model sampled (its observed discharge is drawn).
    gauge : str or None
        Gauge code (default: the first calibrated gauge).
    ax : matplotlib Axes or None
        Where to draw (default: a new figure).
    lower, upper : int
        Indices in `posterior.quantiles` of the band's edges (default: the first and the last).

    Returns
    -------
    (Figure, Axes)
    """
    import matplotlib.pyplot as plt

    codes = list(posterior.codes)
    code = codes[0] if gauge is None else str(gauge)
    if code not in codes:
        raise ValueError(f"gauge {code!r} was not calibrated; the posterior has {codes}")
    g = codes.index(code)
    if ax is None:
        fig, ax = plt.subplots(figsize=(10, 4))
    else:
        fig = ax.figure
    steps = np.arange(posterior.time_step)
    q_lo, q_hi = posterior.q_quantiles[lower][g], posterior.q_quantiles[upper][g]
    ql, qh = posterior.quantiles[lower], posterior.quantiles[upper]
    ax.fill_between(steps, q_lo, q_hi, color="tab:blue", alpha=0.3, lw=0,
                    label=f"posterior predictive {100 * (qh - ql):.0f} %")
    ax.plot(steps, posterior.q_median_sim[g], color="tab:blue", lw=1, label="simulated (posterior median)")
    gauge_index = [str(c) for c in model.mesh.code].index(code)
    obs = np.asarray(model.response_data.q[gauge_index], dtype=float)
    observed = obs >= 0
    ax.plot(steps[observed], obs[observed], ".", color="k", ms=2, label="observed")
    ax.set_xlabel("time step")
    ax.set_ylabel("discharge (m$^3$/s)")
    ax.set_title(f"Gauge {code}")
    ax.legend(loc="upper right")
    return fig, ax
