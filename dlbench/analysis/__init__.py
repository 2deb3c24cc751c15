"""What analyses recorded results: statistics, the records as a DataFrame, reports, comparisons."""
