"""Crypto news: harvesting headlines and scoring their sentiment on the agent."""
