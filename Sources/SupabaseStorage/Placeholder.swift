// Placeholder until the SupabaseStorage target lands.
