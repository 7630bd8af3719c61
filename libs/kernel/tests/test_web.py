import contextlib
import gc

from waymark_kernel.web import create_base_app


async def test_what_start_up_built_is_left_out_of_the_collectors_passes() -> None:
    built_at_start_up: list[list] = []

    @contextlib.asynccontextmanager
    async def lifespan(app):
        built_at_start_up.append([])
        yield

    app = create_base_app("test", title="Test", lifespan=lifespan, checks={})
    async with app.router.lifespan_context(app):
        built_later: list = []
        collected = {id(item) for item in gc.get_objects()}
        assert id(built_at_start_up[0]) not in collected
        assert id(built_later) in collected
