"""Storage: PostgreSQL through asyncpg, SQL written as SQL, one module per table family."""
