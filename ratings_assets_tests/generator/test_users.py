from ratings_assets.generator.users import user_pool


def test_pool_is_distinct_and_deterministic_with_a_seed():
    pool = user_pool(500, seed=7)
    assert len(pool) == len(set(pool)) == 500
    assert user_pool(500, seed=7) == pool
    assert user_pool(500, seed=8) != pool
