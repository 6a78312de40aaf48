"""Recovery simulator and backtest: the retry service's real scheduler and baselines over simulated time."""
