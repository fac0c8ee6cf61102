"""De-identification profile data, versioned: DICOM PS3.15 Annex E, Table E.1-1.

This module is data only; ``imaging.dicom.deid`` applies it. Bump PROFILE_VERSION on
any change: the version is written into every de-identified instance
(DeidentificationMethod), so each stored file names the rules that produced it.

Entries are pydicom data-dictionary keywords grouped by their Basic Profile action
code (PS3.15 E.1.1): D dummy value, Z zero length (or dummy), X remove, U new UID
(consistent within a project), K keep, C clean. Compound codes (X/Z, X/D, X/Z/D, Z/D,
X/Z/U*) are resolved in ``COMPOUND_RESOLUTION``. The list covers Table E.1-1 of the
2024b edition (all rows, not only those a CT image can carry: extra rows cost nothing).
"""

PROFILE_VERSION = "deid-2025.1"
STANDARD_EDITION = "DICOM PS3.15 2024b"

_DUMMY = """
    AcquisitionFieldOfViewLabel AnnotationGroupLabel AssertionDateTime
    AttributeModificationDateTime BeamHoldTransitionDateTime CertificateOfSigner
    ClinicalTrialProtocolEthicsCommitteeName ClinicalTrialProtocolID
    ClinicalTrialSponsorName ClinicalTrialSubjectID ClinicalTrialSubjectReadingID
    ContainerIdentifier ContextGroupLocalVersion ContextGroupVersion Date DateTime
    DecayCorrectionDateTime DestinationAE DeviceLabel DigitalSignatureDateTime
    EffectiveDateTime EncapsulatedDocument EntityLabel EntityLongLabel
    ExclusionStartDateTime FlowIdentifier FlowIdentifierSequence FrameAcquisitionDateTime
    FrameOriginTimestamp FrameReferenceDateTime FunctionalSyncPulse
    GraphicAnnotationSequence HangingProtocolCreationDateTime ImpedanceMeasurementDateTime
    InformationIssueDateTime InterlockDateTime InterlockDescription
    InterlockOriginDescription ModifyingSystem OverrideDateTime
    PersonIdentificationCodeSequence PersonName RTPlanLabel RTPrescriptionLabel
    RTToleranceSetLabel RadiationDoseIdentificationLabel RadiationDoseInVivoMeasurementLabel
    RadiationGenerationModeLabel ReasonForTheAttributeModification
    RecordedRTControlPointDateTime ReferencedDateTime SafePositionExitDate
    SafePositionExitTime SafePositionReturnDate SafePositionReturnTime SelectorAEValue
    SelectorASValue SelectorDAValue SelectorDTValue SelectorLOValue SelectorLTValue
    SelectorOBValue SelectorPNValue SelectorSHValue SelectorSTValue SelectorTMValue
    SelectorUNValue SelectorURValue SelectorUTValue SourceEndDateTime SourceIdentifier
    SourceStartDateTime SourceStrengthReferenceDate SourceStrengthReferenceTime
    SpecimenIdentifier StructureSetLabel Time TreatmentControlPointDate
    TreatmentControlPointTime TreatmentPositionGroupLabel
    TreatmentToleranceViolationDateTime TreatmentToleranceViolationDescription
    UserContentLabel UserContentLongLabel VerificationDateTime VerifyingObserverName
    VerifyingObserverSequence VerifyingOrganization XRayDetectorID XRaySourceID
"""  # D

_ZERO = """
    AccessionNumber CalibrationDateTime ClinicalTrialCoordinatingCenterName
    ClinicalTrialProtocolName ClinicalTrialSiteID ClinicalTrialSiteName
    ClinicalTrialTimePointID ConceptualVolumeCombinationDescription
    ConceptualVolumeDescription ConsultingPhysicianName DeviceAlternateIdentifier
    FillerOrderNumberImagingServiceRequest FractionationNotes
    IssuerOfTheContainerIdentifierSequence IssuerOfTheSpecimenIdentifierSequence
    ManufacturerDeviceIdentifier ParticipationDateTime PatientBirthDate PatientID
    PatientName PatientSex PlacerOrderNumberImagingServiceRequest PrescriptionNotes
    PrescriptionNotesSequence ROIInterpreter ROIName RTAccessoryDeviceSlotID
    RTAccessoryHolderSlotID RTPhysicianIntentNarrative RadiationGenerationModeDescription
    ReasonForSuperseding ReferringPhysicianName ReviewDate ReviewTime SourceOfPreviousValues
    SpecimenPreparationSequence StructureSetDate StructureSetTime StudyDate StudyID
    StudyTime TreatmentTechniqueNotes VerifyingObserverIdentificationCodeSequence
"""  # Z

_REMOVE = """
    AcquisitionComments AcquisitionProtocolDescription ActualHumanPerformersSequence
    AdditionalPatientHistory AddressTrial AdmissionID AdmittingDate
    AdmittingDiagnosesCodeSequence AdmittingDiagnosesDescription AdmittingTime
    AffectedSOPInstanceUID Allergies AnnotationGroupDescription ApprovalStatusDateTime
    Arbitrary AssertionExpirationDateTime AuthorObserverSequence BeamDescription
    BolusDescription BranchOfService CalibrationDate CalibrationTime CameraOwnerName
    CassetteID CertifiedTimestamp ClinicalTrialProtocolEthicsCommitteeApprovalNumber
    ClinicalTrialSeriesDescription ClinicalTrialSeriesID ClinicalTrialTimePointDescription
    CommentsOnRadiationDose CommentsOnThePerformedProcedureStep CompensatorDescription
    ConfidentialityConstraintOnPatientDataDescription
    ConsultingPhysicianIdentificationSequence ContainerComponentID ContainerDescription
    ContentCreatorIdentificationCodeSequence ContentSequence ContrastBolusStartTime
    ContrastBolusStopTime ContributionDateTime ContributionDescription CountryOfResidence
    CreationDate CreationTime CurrentObserverTrial CurrentPatientLocation CurveDate
    CurveTime CustodialOrganizationSequence DataSetTrailingPadding
    DateOfDocumentOrVerbalTransactionTrial DateOfInstallation DateOfLastCalibration
    DateOfManufacture DateOfSecondaryCapture DateTimeOfLastCalibration
    DecompositionDescription DerivationDescription DeviceDescription
    DeviceSettingDescription DigitalSignaturesSequence DischargeDate
    DischargeDiagnosisDescription DischargeTime DisplacementReferenceLabel
    DistributionAddress DistributionName DoseReferenceDescription EntityDescription
    EntityName EquipmentFrameOfReferenceDescription
    EthicsCommitteeApprovalEffectivenessEndDate
    EthicsCommitteeApprovalEffectivenessStartDate EthnicGroup ExpectedCompletionDateTime
    FilterLookupTableDescription FindingsGroupRecordingDateTrial
    FindingsGroupRecordingTimeTrial FixationDeviceDescription FractionGroupDescription
    FrameComments GPSAltitude GPSAltitudeRef GPSAreaInformation GPSDOP GPSDateStamp
    GPSDestBearing GPSDestBearingRef GPSDestDistance GPSDestDistanceRef GPSDestLatitude
    GPSDestLatitudeRef GPSDestLongitude GPSDestLongitudeRef GPSDifferential GPSImgDirection
    GPSImgDirectionRef GPSLatitude GPSLatitudeRef GPSLongitude GPSLongitudeRef GPSMapDatum
    GPSMeasureMode GPSProcessingMethod GPSSatellites GPSSpeed GPSSpeedRef GPSStatus
    GPSTimeStamp GPSTrack GPSTrackRef GPSVersionID GantryID GeneratorID
    HL7DocumentEffectiveTime HumanPerformerName HumanPerformerOrganization IconImageSequence
    IdentifyingComments ImageComments ImagePresentationComments
    ImagingServiceRequestComments Impressions InstanceCoercionDateTime InstanceOriginStatus
    InstitutionAddress InstitutionalDepartmentName InstitutionalDepartmentTypeCodeSequence
    InsurancePlanIdentification IntendedFractionStartTime
    IntendedRecipientsOfResultsIdentificationSequence InterpretationApprovalDate
    InterpretationApprovalTime InterpretationApproverSequence InterpretationAuthor
    InterpretationDiagnosisDescription InterpretationID InterpretationIDIssuer
    InterpretationRecordedDate InterpretationRecordedTime InterpretationRecorder
    InterpretationText InterpretationTranscriber InterpretationTranscriptionDate
    InterpretationTranscriptionTime InterventionDrugStartTime InterventionDrugStopTime
    IssueDateOfImagingServiceRequest IssueTimeOfImagingServiceRequest IssuerOfAdmissionID
    IssuerOfAdmissionIDSequence IssuerOfClinicalTrialProtocolID
    IssuerOfClinicalTrialSeriesID IssuerOfClinicalTrialSiteID IssuerOfClinicalTrialSubjectID
    IssuerOfClinicalTrialSubjectReadingID IssuerOfClinicalTrialTimePointID IssuerOfPatientID
    IssuerOfServiceEpisodeID IssuerOfServiceEpisodeIDSequence LastMenstrualDate LensMake
    LensModel LensSerialNumber LensSpecification LongDeviceDescription MAC MakerNote
    MedicalAlerts MedicalRecordLocator MilitaryRank ModifiedAttributesSequence
    ModifiedImageDate ModifiedImageDescription ModifiedImageTime ModifyingDeviceID
    MultienergyAcquisitionDescription NameOfPhysiciansReadingStudy
    NamesOfIntendedRecipientsOfResults NetworkID NonconformingDataElementValue
    NonconformingModifiedAttributesSequence ObservationDateTrial ObservationStartDateTime
    ObservationTimeTrial Occupation OrderCallbackPhoneNumber OrderCallbackTelecomInformation
    OrderEnteredBy OrderEntererLocation OriginalAttributesSequence Originator
    OtherClinicalTrialProtocolIDsSequence OtherPatientIDs OtherPatientIDsSequence
    OtherPatientNames OverlayDate OverlayTime ParticipantSequence PatientAddress PatientAge
    PatientBirthName PatientBirthTime PatientComments PatientInstitutionResidence
    PatientInsurancePlanCodeSequence PatientMotherBirthName
    PatientPrimaryLanguageCodeSequence PatientPrimaryLanguageModifierCodeSequence
    PatientReligiousPreference PatientSetupPhotoDescription PatientSize PatientState
    PatientTelecomInformation PatientTelephoneNumbers PatientTransportArrangements
    PatientTreatmentPreparationMethodDescription
    PatientTreatmentPreparationProcedureParameterDescription PatientWeight PerformedLocation
    PerformedProcedureStepDescription PerformedProcedureStepEndDate
    PerformedProcedureStepEndDateTime PerformedProcedureStepEndTime PerformedProcedureStepID
    PerformedProcedureStepStartDate PerformedProcedureStepStartDateTime
    PerformedProcedureStepStartTime PerformedStationAETitle
    PerformedStationGeographicLocationCodeSequence PerformedStationName
    PerformedStationNameCodeSequence PerformingPhysicianIdentificationSequence
    PerformingPhysicianName PersonAddress PersonTelecomInformation PersonTelephoneNumbers
    PhysicianApprovingInterpretation PhysiciansOfRecord
    PhysiciansOfRecordIdentificationSequence PhysiciansReadingStudyIdentificationSequence
    PlateID PositionAcquisitionTemplateDescription PositionAcquisitionTemplateName
    PreMedication PregnancyStatus PrescriptionDescription PresentationCreationDate
    PresentationCreationTime PriorTreatmentDoseDescription ProcedureStepCancellationDateTime
    ProductExpirationDateTime PyramidDescription PyramidLabel ROICreatorSequence ROIDateTime
    ROIDescription ROIGenerationDescription ROIInterpreterSequence ROIObservationDateTime
    ROIObservationDescription ROIObservationLabel RTPlanDescription RTPlanName
    RadiopharmaceuticalStartDateTime RadiopharmaceuticalStartTime
    RadiopharmaceuticalStopDateTime RadiopharmaceuticalStopTime ReasonForOmissionDescription
    ReasonForRequestedProcedureCodeSequence ReasonForStudy ReasonForTheImagingServiceRequest
    ReasonForTheRequestedProcedure ReasonForVisit ReasonForVisitCodeSequence ReceivingAE
    ReferencedDigitalSignatureSequence ReferencedPatientAliasSequence
    ReferencedPatientPhotoSequence ReferencedPatientSequence
    ReferencedSOPInstanceMACSequence ReferringPhysicianAddress
    ReferringPhysicianIdentificationSequence ReferringPhysicianTelephoneNumbers
    RegionOfResidence RequestAttributesSequence RequestedContrastAgent
    RequestedProcedureComments RequestedProcedureID RequestedProcedureLocation
    RequestedSeriesDescription RequestingAE RequestingPhysician RequestingService
    RespiratoryMotionCompensationTechniqueDescription ResponsibleOrganization
    ResponsiblePerson ResultsComments ResultsDistributionListSequence ResultsID
    ResultsIDIssuer RetrieveAETitle SOPAuthorizationDateTime ScheduledAdmissionDate
    ScheduledAdmissionTime ScheduledDischargeDate ScheduledDischargeTime
    ScheduledHumanPerformersSequence ScheduledPatientInstitutionResidence
    ScheduledPerformingPhysicianIdentificationSequence ScheduledPerformingPhysicianName
    ScheduledProcedureStepDescription ScheduledProcedureStepEndDate
    ScheduledProcedureStepEndTime ScheduledProcedureStepExpirationDateTime
    ScheduledProcedureStepID ScheduledProcedureStepLocation
    ScheduledProcedureStepModificationDateTime ScheduledProcedureStepStartDate
    ScheduledProcedureStepStartDateTime ScheduledProcedureStepStartTime
    ScheduledStationAETitle ScheduledStationGeographicLocationCodeSequence
    ScheduledStationName ScheduledStationNameCodeSequence ScheduledStudyLocation
    ScheduledStudyLocationAETitle ScheduledStudyStartDate ScheduledStudyStartTime
    ScheduledStudyStopDate ScheduledStudyStopTime SeriesDescription
    ServiceEpisodeDescription ServiceEpisodeID SetupTechniqueDescription
    ShieldingDeviceDescription SlideIdentifier SmokingStatus SourceManufacturer SpecialNeeds
    SpecimenAccessionNumber SpecimenDetailedDescription SpecimenShortDescription
    StationAETitle StructureSetDescription StructureSetName StudyArrivalDate
    StudyArrivalTime StudyComments StudyCompletionDate StudyCompletionTime StudyDescription
    StudyIDIssuer StudyReadDate StudyReadTime StudyVerifiedDate StudyVerifiedTime
    SubstanceAdministrationDateTime TelephoneNumberTrial TemplateLocalVersion
    TemplateVersion TextComments TextString TimeOfDocumentCreationOrVerbalTransactionTrial
    TimeOfLastCalibration TimeOfSecondaryCapture TimezoneOffsetFromUTC TopicAuthor
    TopicKeywords TopicSubject TopicTitle TransducerIdentificationSequence TreatmentSites
    UDISequence UniqueDeviceIdentifier VerbalSourceIdentifierCodeSequenceTrial
    VerbalSourceTrial VisitComments WaveformFilterDescription XRayDetectorLabel
"""  # X

_UID = """
    AcquisitionUID AnnotationGroupUID ConcatenationUID ConceptualVolumeUID
    ConstituentConceptualVolumeUID DeviceUID DigitalSignatureUID DimensionOrganizationUID
    DoseReferenceUID DosimetricObjectiveUID FailedSOPInstanceUIDList FiducialUID
    FrameOfReferenceUID InstanceCreatorUID IrradiationEventUID
    LargePaletteColorLookupTableUID ManufacturerDeviceClassUID MediaStorageSOPInstanceUID
    MultiplexGroupUID ObservationSubjectUIDTrial ObservationUID PaletteColorLookupTableUID
    PatientSetupUID PresentationDisplayCollectionUID PresentationSequenceCollectionUID
    PyramidUID RTTreatmentPhaseUID ReferencedConceptualVolumeUID ReferencedDoseReferenceUID
    ReferencedDosimetricObjectiveUID ReferencedFiducialsUID ReferencedFrameOfReferenceUID
    ReferencedGeneralPurposeScheduledProcedureStepTransactionUID
    ReferencedObservationUIDTrial ReferencedSOPInstanceUID ReferencedSOPInstanceUIDInFile
    ReferencedTreatmentPositionGroupUID RelatedFrameOfReferenceUID RequestedSOPInstanceUID
    SOPInstanceUID SeriesInstanceUID SourceConceptualVolumeUID SourceFrameOfReferenceUID
    SpecimenUID StorageMediaFileSetUID StudyInstanceUID SynchronizationFrameOfReferenceUID
    TargetUID TemplateExtensionCreatorUID TemplateExtensionOrganizationUID TrackingUID
    TransactionUID TreatmentPositionGroupUID TreatmentSessionUID UID
"""  # U

_ZERO_OR_DUMMY = """
    ContentCreatorName ContentDate ContentTime ContrastBolusAgent
    InstructionPerformedDateTime
"""  # Z/D

_REMOVE_OR_ZERO = """
    AcquisitionContextSequence AcquisitionDate AcquisitionTime BarcodeValue LabelText
    PatientSexNeutered ReferencedStudySequence RequestedProcedureDescription ReviewerName
    SourceSerialNumber TreatmentMachineName
"""  # X/Z

_REMOVE_OR_DUMMY = """
    AcquisitionDeviceProcessingDescription DateOfLastDetectorCalibration DetectorID
    EndAcquisitionDateTime FirstTreatmentDate InstanceCreationDate IntendedPhaseEndDate
    IntendedPhaseStartDate MostRecentTreatmentDate ObservationDateTime
    OperatorIdentificationSequence ProtocolName RTPlanDate RTPlanTime
    RTTreatmentApproachLabel SeriesDate SeriesTime StartAcquisitionDateTime
    TimeOfLastDetectorCalibration TreatmentDate TreatmentSite TreatmentTime
"""  # X/D

_REMOVE_OR_ZERO_OR_DUMMY = """
    AcquisitionDateTime DeviceSerialNumber InstanceCreationTime InstitutionCodeSequence
    InstitutionName OperatorsName ReferencedPerformedProcedureStepSequence StationName
"""  # X/Z/D

_REMOVE_OR_ZERO_OR_UIDS = """
    ReferencedImageSequence SourceImageSequence
"""  # X/Z/U*

# Compound codes are resolved to the most removing action the CT Image IOD allows:
# Z/D keeps a type 2 attribute present but empty; X/Z/U* keeps a reference sequence so
# the UIDs inside it can be remapped (their own U rows apply inside the items).
COMPOUND_RESOLUTION: dict[str, str] = {
    "X/Z": "X",
    "X/D": "X",
    "X/Z/D": "X",
    "Z/D": "Z",
    "X/Z/U*": "U*",
}

# Stricter than the table: attributes the platform removes although Table E.1-1 (this
# edition) does not list them, because they can name a patient, a site or a server.
_LOCAL_REMOVE = """
    EncryptedAttributesSequence EthnicGroupCodeSequence IssuerOfAccessionNumberSequence
    IssuerOfPatientIDQualifiersSequence PatientAlternativeCalendar
    PatientBirthDateInAlternativeCalendar PatientDeathDateInAlternativeCalendar RetrieveURI
    RetrieveURL StorageMediaFileSetID
"""


def _codes(block: str, code: str) -> dict[str, str]:
    return dict.fromkeys(block.split(), code)


BASIC_PROFILE: dict[str, str] = {
    **_codes(_DUMMY, "D"),
    **_codes(_ZERO, "Z"),
    **_codes(_REMOVE, "X"),
    **_codes(_UID, "U"),
    **_codes(_ZERO_OR_DUMMY, "Z/D"),
    **_codes(_REMOVE_OR_ZERO, "X/Z"),
    **_codes(_REMOVE_OR_DUMMY, "X/D"),
    **_codes(_REMOVE_OR_ZERO_OR_DUMMY, "X/Z/D"),
    **_codes(_REMOVE_OR_ZERO_OR_UIDS, "X/Z/U*"),
}

LOCAL_ADDITIONS: dict[str, str] = _codes(_LOCAL_REMOVE, "X")

# Retain Patient Characteristics Option (DCM 113108): its column of Table E.1-1.
# C (clean free text) is applied as removal: no free-text cleaner is trusted here.
# Ethnic Group is a free-text SH that sites fill with anything (seen: names,
# record numbers), and body composition does not need it, so it is cleaned too.
RETAIN_PATIENT_CHARACTERISTICS: dict[str, str] = {
    "EthnicGroup": "C",
    "PatientAge": "K",
    "PatientSex": "K",
    "PatientSexNeutered": "K",
    "PatientSize": "K",
    "PatientWeight": "K",
    "PregnancyStatus": "K",
    "SmokingStatus": "K",
    "Allergies": "C",
    "MedicalAlerts": "C",
    "PatientState": "C",
    "PreMedication": "C",
    "SpecialNeeds": "C",
}

# Retain Longitudinal Temporal Information with Modified Dates Option (DCM 113107):
# every DA/DT/TM row above is modified (dates shifted per patient, times kept), except
# these, which identify the patient directly, are versions rather than events, or
# locate the device.
MODIFIED_DATES_EXEMPT: frozenset[str] = frozenset(
    {
        "ContextGroupLocalVersion",
        "ContextGroupVersion",
        "GPSDateStamp",
        "GPSTimeStamp",
        "PatientBirthDate",
        "PatientBirthTime",
        "TemplateLocalVersion",
        "TemplateVersion",
    }
)

# Codes recorded in DeidentificationMethodCodeSequence (CID 7050), scheme DCM.
METHOD_CODES: tuple[tuple[str, str], ...] = (
    ("113100", "Basic Application Confidentiality Profile"),
    ("113108", "Retain Patient Characteristics Option"),
    ("113107", "Retain Longitudinal Temporal Information Modified Dates Option"),
)
