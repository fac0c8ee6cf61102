"""factory_boy factories for the platform's models (tests only)."""

import factory
from django.contrib.auth import get_user_model

from accounts.models import Institution
from analysis.models import Job
from annotations.models import LabelTrack
from imaging.models import Series, Study
from projects.models import Cohort, ProjectMembership, ResearchProject

PASSWORD = "correct-horse-battery-staple-42"


class InstitutionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Institution

    name = factory.Sequence(lambda n: f"Hospital {n}")
    code = factory.Sequence(lambda n: f"H{n}")
    country = "NO"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    institution = factory.SubFactory(InstitutionFactory)
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def _save(self, create: bool, extracted: object, **kwargs: object) -> None:
        if create:
            self.save()


class ProjectFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ResearchProject
        skip_postgeneration_save = True

    name = factory.Sequence(lambda n: f"Project {n}")
    slug = factory.Sequence(lambda n: f"project-{n}")

    @factory.post_generation
    def institutions(
        self, create: bool, extracted: list[Institution] | None, **kwargs: object
    ) -> None:
        if create and extracted:
            self.institutions.set(extracted)


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ProjectMembership

    project = factory.SubFactory(ProjectFactory)
    user = factory.SubFactory(UserFactory)
    role = "viewer"


class StudyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Study

    project = factory.SubFactory(ProjectFactory)
    institution = factory.SubFactory(InstitutionFactory)
    study_instance_uid = factory.Sequence(lambda n: f"2.25.{1000 + n}")
    patient_pseudonym = factory.Sequence(lambda n: f"P-{n:06d}")
    patient_sex = "F"
    patient_age_years = 60
    modality = "CT"


class SeriesFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Series

    study = factory.SubFactory(StudyFactory)
    series_instance_uid = factory.Sequence(lambda n: f"2.25.{9000 + n}")
    series_number = 1
    modality = "CT"
    slice_count = 3
    slice_positions_mm = [0.0, 2.5, 5.0]


class CohortFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Cohort

    project = factory.SubFactory(ProjectFactory)
    name = factory.Sequence(lambda n: f"Cohort {n}")


class JobFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Job

    project = factory.SubFactory(ProjectFactory)
    job_type = "worker_info"


class LabelTrackFactory(factory.django.DjangoModelFactory):
    """A labeler's track as it stands (no edit rows): for permission and agreement tests."""

    class Meta:
        model = LabelTrack

    series = factory.SubFactory(SeriesFactory)
    author = factory.SubFactory(UserFactory)
    scheme = "fine"
    labels = factory.LazyAttribute(lambda t: [None] * t.series.slice_count)
