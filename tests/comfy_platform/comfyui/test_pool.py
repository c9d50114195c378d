"""Which backend takes the next prompt."""

from comfy_platform.comfyui.pool import BackendPool


async def test_new_prompts_go_to_the_least_busy_backend():
    pool = BackendPool(["http://a", "http://b"], slots=2)
    assert pool.capacity == 4
    async with pool.lease() as first, pool.lease() as second, pool.lease() as third:
        assert {first, second} == {"http://a", "http://b"}
        assert third in ("http://a", "http://b")
    await pool.close()


async def test_a_backend_that_failed_is_skipped_until_it_answers_again():
    pool = BackendPool(["http://a", "http://b"], slots=2)
    pool.mark_down("http://a")
    async with pool.lease(), pool.lease(), pool.lease():
        assert pool.choose() == "http://b"  # busier, but a is down
    pool.mark_up("http://a")
    assert pool.choose() == "http://a"
    await pool.close()


async def test_a_lease_on_a_named_backend_counts_against_it():
    pool = BackendPool(["http://a", "http://b"], slots=1)
    async with pool.lease("http://b/"):
        assert pool.choose() == "http://a"
    await pool.close()
