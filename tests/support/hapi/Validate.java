// HAPI FHIR's R4 instance validator over files, for tests/integration/test_render_hapi.py.
// Base R4 4.0.1 only: no terminology server (SNOMED CT, ICD-10-CM, RxNorm and LOINC codes are
// not looked up) and no BSeR package (its profiles are unknown here: the project's own checks in
// pipeline/render/profile.py stand in). Prints one line per message: file, severity, location, text.
import ca.uhn.fhir.context.FhirContext;
import ca.uhn.fhir.context.support.DefaultProfileValidationSupport;
import ca.uhn.fhir.validation.FhirValidator;
import ca.uhn.fhir.validation.SingleValidationMessage;
import ca.uhn.fhir.validation.ValidationResult;
import java.nio.file.Files;
import java.nio.file.Path;
import org.hl7.fhir.common.hapi.validation.support.CommonCodeSystemsTerminologyService;
import org.hl7.fhir.common.hapi.validation.support.InMemoryTerminologyServerValidationSupport;
import org.hl7.fhir.common.hapi.validation.support.SnapshotGeneratingValidationSupport;
import org.hl7.fhir.common.hapi.validation.support.ValidationSupportChain;
import org.hl7.fhir.common.hapi.validation.validator.FhirInstanceValidator;

public class Validate {
    public static void main(String[] args) throws Exception {
        FhirContext ctx = FhirContext.forR4();
        ValidationSupportChain chain = new ValidationSupportChain(
                new DefaultProfileValidationSupport(ctx),
                new SnapshotGeneratingValidationSupport(ctx),
                new InMemoryTerminologyServerValidationSupport(ctx),
                new CommonCodeSystemsTerminologyService(ctx));
        FhirInstanceValidator module = new FhirInstanceValidator(chain);
        module.setErrorForUnknownProfiles(false);
        module.setNoTerminologyChecks(false);
        FhirValidator validator = ctx.newValidator().registerValidatorModule(module);
        for (String file : args) {
            ValidationResult result = validator.validateWithResult(Files.readString(Path.of(file)));
            System.out.println(file + "\tDONE\t-\t" + result.getMessages().size() + " messages");
            for (SingleValidationMessage m : result.getMessages()) {
                System.out.println(file + "\t" + m.getSeverity() + "\t" + m.getLocationString() + "\t"
                        + m.getMessage().replace('\n', ' '));
            }
        }
    }
}
