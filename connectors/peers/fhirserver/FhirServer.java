// A real HAPI FHIR R4 server on loopback for the delivery tests and the demo: HAPI's RestfulServer
// with its in-memory HashMapResourceProvider per resource type, a transaction handler (PUT with the
// client's ids, POST with the server's), optionally $process-message (--process-message: then the
// CapabilityStatement offers it), and a SMART Backend Services token endpoint in front (--client ID
// --client-key PEM, repeatable): a client-credentials grant with a signed JWT assertion (RS384 or ES384, aud the
// token URL, exp at most 5 minutes ahead, jti never reused) returns a bearer token that /fhir needs.
//
//   java -cp ... FhirServer --port 0 [--process-message] [--client ID --client-key PUB.pem]
//                           [--token-seconds N]
// prints "READY <port>" when it serves. Written for Handoff's tests; not a production server.
import ca.uhn.fhir.context.FhirContext;
import ca.uhn.fhir.rest.annotation.Operation;
import ca.uhn.fhir.rest.annotation.ResourceParam;
import ca.uhn.fhir.rest.annotation.Transaction;
import ca.uhn.fhir.rest.annotation.TransactionParam;
import ca.uhn.fhir.rest.api.MethodOutcome;
import ca.uhn.fhir.rest.api.server.RequestDetails;
import ca.uhn.fhir.rest.server.RestfulServer;
import ca.uhn.fhir.rest.server.exceptions.InvalidRequestException;
import ca.uhn.fhir.rest.server.provider.HashMapResourceProvider;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import jakarta.servlet.DispatcherType;
import jakarta.servlet.Filter;
import jakarta.servlet.FilterChain;
import jakarta.servlet.ServletRequest;
import jakarta.servlet.ServletResponse;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.net.InetSocketAddress;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyFactory;
import java.security.PublicKey;
import java.security.SecureRandom;
import java.security.Signature;
import java.security.spec.X509EncodedKeySpec;
import java.util.*;
import java.util.concurrent.ConcurrentHashMap;
import org.eclipse.jetty.ee10.servlet.FilterHolder;
import org.eclipse.jetty.ee10.servlet.ServletContextHandler;
import org.eclipse.jetty.ee10.servlet.ServletHolder;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;
import org.hl7.fhir.instance.model.api.IBaseResource;
import org.hl7.fhir.r4.model.*;

public class FhirServer {
  static final FhirContext CTX = FhirContext.forR4Cached();
  static final Map<String, HashMapResourceProvider<? extends IBaseResource>> PROVIDERS = new LinkedHashMap<>();
  static final Map<String, Long> TOKENS = new ConcurrentHashMap<>(); // token -> expiry (epoch s)
  static final Set<String> JTIS = ConcurrentHashMap.newKeySet();
  static final Set<String> MESSAGES = ConcurrentHashMap.newKeySet(); // MessageHeader ids processed

  @SuppressWarnings({"unchecked", "rawtypes"})
  static void register(Class<? extends IBaseResource> type) {
    PROVIDERS.put(CTX.getResourceType(type), new HashMapResourceProvider(CTX, type));
  }

  @SuppressWarnings({"unchecked", "rawtypes"})
  static MethodOutcome store(Resource res, String method, String id, RequestDetails rd) {
    HashMapResourceProvider p = PROVIDERS.get(res.fhirType());
    if (p == null) throw new InvalidRequestException("resource type not served: " + res.fhirType());
    if ("POST".equals(method)) {
      res.setId((String) null);
      return p.create(res, rd);
    }
    res.setId(new IdType(res.fhirType(), id));
    return p.update(res, null, rd);
  }

  public static class Transactions {
    @Transaction
    public Bundle transaction(@TransactionParam Bundle in, RequestDetails rd) {
      Bundle out = new Bundle().setType(Bundle.BundleType.TRANSACTIONRESPONSE);
      for (Bundle.BundleEntryComponent e : in.getEntry()) {
        String method = e.getRequest().getMethod() == null ? "" : e.getRequest().getMethod().toCode();
        if (!method.equals("PUT") && !method.equals("POST"))
          throw new InvalidRequestException("only PUT and POST entries are served, not " + method);
        String url = e.getRequest().getUrl();
        String id = url.contains("/") ? url.substring(url.indexOf('/') + 1) : null;
        MethodOutcome o = store(e.getResource(), method, id, rd);
        boolean created = Boolean.TRUE.equals(o.getCreated());
        out.addEntry().getResponse().setStatus(created ? "201 Created" : "200 OK")
            .setLocation(o.getId().toUnqualified().getValue());
      }
      return out;
    }
  }

  public static class Messages {
    @Operation(name = "$process-message")
    public Bundle processMessage(@ResourceParam Bundle message, RequestDetails rd) {
      if (message.getType() != Bundle.BundleType.MESSAGE || message.getEntry().isEmpty()
          || !(message.getEntryFirstRep().getResource() instanceof MessageHeader))
        throw new InvalidRequestException("a message Bundle starts with its MessageHeader");
      MessageHeader head = (MessageHeader) message.getEntryFirstRep().getResource();
      String headId = head.getIdElement().getIdPart();
      if (MESSAGES.add(headId)) { // a repeated MessageHeader.id is the same message: processed once
        for (Bundle.BundleEntryComponent e : message.getEntry().subList(1, message.getEntry().size())) {
          String full = e.getFullUrl(); // the parser takes a urn:uuid fullUrl as the id: keep its uuid
          String id = full != null && full.startsWith("urn:uuid:") ? full.substring(9)
              : e.getResource().getIdElement().getIdPart();
          store(e.getResource(), "PUT", id, rd);
        }
      }
      MessageHeader reply = new MessageHeader();
      reply.setId(UUID.nameUUIDFromBytes(headId.getBytes(StandardCharsets.UTF_8)).toString());
      reply.setEvent(head.getEvent());
      reply.getSource().setEndpoint("urn:handoff-test:fhir-server");
      reply.getResponse().setIdentifier(headId).setCode(MessageHeader.ResponseType.OK);
      Bundle out = new Bundle().setType(Bundle.BundleType.MESSAGE);
      out.addEntry().setResource(reply);
      return out;
    }
  }

  /** The SMART Backend Services token endpoint: client_credentials with a JWT client assertion. */
  public static class TokenServlet extends HttpServlet {
    final String clientId;
    final List<PublicKey> keys;
    final long seconds;

    TokenServlet(String clientId, List<PublicKey> keys, long seconds) {
      this.clientId = clientId;
      this.keys = keys;
      this.seconds = seconds;
    }

    @Override
    protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws java.io.IOException {
      Map<String, String> form = new HashMap<>();
      for (String pair : new String(req.getInputStream().readAllBytes(), StandardCharsets.UTF_8).split("&")) {
        int eq = pair.indexOf('=');
        if (eq > 0) form.put(URLDecoder.decode(pair.substring(0, eq), StandardCharsets.UTF_8),
                             URLDecoder.decode(pair.substring(eq + 1), StandardCharsets.UTF_8));
      }
      String error = check(form, req.getRequestURL().toString());
      resp.setContentType("application/json");
      if (error != null) {
        resp.setStatus(400);
        resp.getWriter().write(new ObjectMapper().createObjectNode().put("error", "invalid_client")
            .put("error_description", error).toString());
        return;
      }
      byte[] raw = new byte[24];
      new SecureRandom().nextBytes(raw);
      String token = Base64.getUrlEncoder().withoutPadding().encodeToString(raw);
      TOKENS.put(token, System.currentTimeMillis() / 1000 + seconds);
      resp.getWriter().write(new ObjectMapper().createObjectNode().put("access_token", token)
          .put("token_type", "bearer").put("expires_in", seconds).put("scope", form.getOrDefault("scope", ""))
          .toString());
    }

    String check(Map<String, String> form, String tokenUrl) {
      if (!"client_credentials".equals(form.get("grant_type"))) return "grant_type must be client_credentials";
      if (!"urn:ietf:params:oauth:client-assertion-type:jwt-bearer".equals(form.get("client_assertion_type")))
        return "client_assertion_type must be jwt-bearer";
      String[] parts = form.getOrDefault("client_assertion", "").split("\\.");
      if (parts.length != 3) return "client_assertion is not a JWS";
      try {
        Base64.Decoder b64 = Base64.getUrlDecoder();
        ObjectMapper om = new ObjectMapper();
        JsonNode header = om.readTree(b64.decode(parts[0])), claims = om.readTree(b64.decode(parts[1]));
        String alg = header.path("alg").asText();
        String kind;
        if (alg.equals("RS384")) kind = "SHA384withRSA";
        else if (alg.equals("ES384")) kind = "SHA384withECDSAinP1363Format";
        else return "alg must be RS384 or ES384, not " + alg;
        boolean verified = false;
        for (PublicKey key : keys) {
          if (!key.getAlgorithm().equals(alg.startsWith("RS") ? "RSA" : "EC")) continue;
          Signature sig = Signature.getInstance(kind);
          sig.initVerify(key);
          sig.update((parts[0] + "." + parts[1]).getBytes(StandardCharsets.US_ASCII));
          verified |= sig.verify(b64.decode(parts[2]));
        }
        if (!verified) return "the assertion's signature does not verify";
        long now = System.currentTimeMillis() / 1000, exp = claims.path("exp").asLong();
        if (!clientId.equals(claims.path("iss").asText()) || !clientId.equals(claims.path("sub").asText()))
          return "iss and sub must be the client id";
        if (!tokenUrl.equals(claims.path("aud").asText())) return "aud must be the token URL " + tokenUrl;
        if (exp <= now) return "the assertion has expired";
        if (exp > now + 300) return "exp is more than five minutes ahead";
        String jti = claims.path("jti").asText();
        if (jti.isEmpty() || !JTIS.add(jti)) return "jti missing or already used";
        return null;
      } catch (Exception e) {
        return "unreadable assertion: " + e.getClass().getSimpleName();
      }
    }
  }

  /** /fhir needs a live bearer token, except the CapabilityStatement (/fhir/metadata). */
  public static class BearerFilter implements Filter {
    @Override
    public void doFilter(ServletRequest request, ServletResponse response, FilterChain chain)
        throws java.io.IOException, jakarta.servlet.ServletException {
      HttpServletRequest req = (HttpServletRequest) request;
      String auth = Optional.ofNullable(req.getHeader("Authorization")).orElse("");
      Long expiry = auth.startsWith("Bearer ") ? TOKENS.get(auth.substring(7)) : null;
      boolean open = req.getRequestURI().endsWith("/metadata");
      if (!open && (expiry == null || expiry < System.currentTimeMillis() / 1000)) {
        HttpServletResponse resp = (HttpServletResponse) response;
        resp.setStatus(401);
        resp.setHeader("WWW-Authenticate", "Bearer");
        return;
      }
      chain.doFilter(request, response);
    }
  }

  static PublicKey readKey(Path pem) throws Exception {
    String text = Files.readString(pem).replaceAll("-----[A-Z ]+-----", "").replaceAll("\\s", "");
    byte[] der = Base64.getDecoder().decode(text);
    for (String kind : new String[] {"RSA", "EC"}) {
      try {
        return KeyFactory.getInstance(kind).generatePublic(new X509EncodedKeySpec(der));
      } catch (Exception ignored) {
        // try the next kind
      }
    }
    throw new IllegalArgumentException("not an RSA or EC public key: " + pem);
  }

  public static void main(String[] args) throws Exception {
    Map<String, String> opts = new HashMap<>();
    List<PublicKey> keys = new ArrayList<>();
    for (int i = 0; i < args.length; i++) {
      if (args[i].equals("--process-message")) opts.put("process-message", "yes");
      else if (args[i].equals("--client-key")) keys.add(readKey(Path.of(args[++i])));
      else opts.put(args[i].substring(2), args[++i]);
    }
    for (Class<? extends IBaseResource> type : List.of(Task.class, ServiceRequest.class, Patient.class,
        Organization.class, PractitionerRole.class, Encounter.class, Condition.class, Observation.class,
        MedicationAdministration.class, Consent.class, Provenance.class, MessageHeader.class, Bundle.class,
        Practitioner.class, Location.class, DocumentReference.class, Composition.class, RelatedPerson.class))
      register(type);
    RestfulServer fhir = new RestfulServer(CTX);
    fhir.registerProviders(new ArrayList<Object>(PROVIDERS.values()));
    fhir.registerProvider(new Transactions());
    if (opts.containsKey("process-message")) fhir.registerProvider(new Messages());

    Server server = new Server(new InetSocketAddress("127.0.0.1", Integer.parseInt(opts.getOrDefault("port", "0"))));
    ServletContextHandler context = new ServletContextHandler();
    context.addServlet(new ServletHolder(fhir), "/fhir/*");
    if (opts.containsKey("client")) {
      long seconds = Long.parseLong(opts.getOrDefault("token-seconds", "300"));
      context.addServlet(new ServletHolder(new TokenServlet(opts.get("client"), keys, seconds)), "/token");
      context.addFilter(new FilterHolder(new BearerFilter()), "/fhir/*", EnumSet.of(DispatcherType.REQUEST));
    }
    server.setHandler(context);
    server.start();
    System.out.println("READY " + ((ServerConnector) server.getConnectors()[0]).getLocalPort());
    System.out.flush();
    server.join();
  }
}
