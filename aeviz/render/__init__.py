"""Arrays to pictures and files: images, plotly figures and exports."""
