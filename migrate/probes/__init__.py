"""App-defined probes (the spec's ``probes:``) and the data-layer canary: RPO figures for any app."""
