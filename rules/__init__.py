"""Rule packs for the four layers, the proposal engine, backtests, review and apply."""
