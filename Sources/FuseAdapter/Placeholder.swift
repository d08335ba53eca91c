// Placeholder until the FuseAdapter target lands.
