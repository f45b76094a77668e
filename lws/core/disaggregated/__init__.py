"""Pure decisions for DisaggregatedSets: revision, child objects, rollout planner, status. No I/O."""
