// Placeholder until the GenerationStore target lands.
