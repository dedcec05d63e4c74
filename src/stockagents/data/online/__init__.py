"""Online data providers: news from Finnhub, NewsAPI and Serper; fundamentals from SEC
EDGAR, Finnhub and yfinance. All share ``http.ApiClient`` (timeouts, retries, rate
limit, disk cache) and serve point in time, like the local providers."""
