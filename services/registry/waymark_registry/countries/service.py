from sqlalchemy.ext.asyncio import AsyncSession

from waymark_kernel.api import Page
from waymark_registry.countries.data import PROGRAMME_COUNTRIES
from waymark_registry.countries.schemas import CountryRead, NationalSocietyRead
from waymark_registry.organizations import repository as organizations


async def list_countries(session: AsyncSession) -> Page[CountryRead]:
    registered = await organizations.national_societies(
        session, (code for code, _, _ in PROGRAMME_COUNTRIES)
    )
    return Page(items=[
        CountryRead(
            code=code, name=name,
            national_society=NationalSocietyRead(
                name=society, organization_id=registered.get(code)
            ),
        )
        for code, name, society in PROGRAMME_COUNTRIES
    ])
