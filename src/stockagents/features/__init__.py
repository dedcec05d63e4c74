"""Technical indicators, news digest and fundamental ratios, computed from point-in-time data."""
