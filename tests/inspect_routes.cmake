# Runs sniroute-inspect --routes ... and checks its output.
#   cmake -DINSPECT=<exe> -DMAP=<map> -DVECTORS=<dir> -DWORK=<dir> -P this
function(expect_eq what got want)
  if(NOT got STREQUAL want)
    message(FATAL_ERROR "${what}:\n got: [${got}]\nwant: [${want}]")
  endif()
endfunction()

# --match: one line per name, in order; one --alpn for all of them
execute_process(COMMAND ${INSPECT} --routes ${MAP}
    --match Test-TCP-Proxy.Example.COM. --match a.b.example.com
    --match example.com --match example.org --match x.example.org
    --match www.example.co.uk --match 192.0.2.1 --match a..b --match nope.net
  OUTPUT_VARIABLE out RESULT_VARIABLE rc)
expect_eq("exit status" "${rc}" "0")
expect_eq("--match" "${out}"
  "exact\nweb\nweb\nfallback\norg\ntail\nnosni\nnosni\nfallback\n")

execute_process(COMMAND ${INSPECT} --routes ${MAP} --alpn h2,acme-tls/1
    --match a.example.com --match x.example.org --match example.com
  OUTPUT_VARIABLE out RESULT_VARIABLE rc)
expect_eq("--alpn" "${out}" "acme\norg\nacme\n")

# a map without default: "-" for no match
file(WRITE ${WORK}/nodefault.map "a.example.net t\n")
execute_process(COMMAND ${INSPECT} --routes ${WORK}/nodefault.map
    --match a.example.net --match b.example.net
  OUTPUT_VARIABLE out RESULT_VARIABLE rc)
expect_eq("no default" "${out}" "t\n-\n")

# JSON: "route" from the parse result (hello, no SNI, not TLS)
execute_process(COMMAND ${INSPECT} --routes ${MAP}
    ${VECTORS}/001-openssl-default/hello.bin
    ${VECTORS}/004-openssl-nosni/hello.bin
  OUTPUT_VARIABLE out)
string(REGEX MATCHALL "\"route\": [^,}]*" routes "${out}")
expect_eq("json routes" "${routes}" "\"route\": \"exact\";\"route\": \"nosni\"")
file(WRITE ${WORK}/http.txt "GET / HTTP/1.1\r\nHost: example.com\r\n\r\n")
execute_process(COMMAND ${INSPECT} --routes ${MAP} ${WORK}/http.txt
  OUTPUT_VARIABLE out)
string(REGEX MATCHALL "\"route\": [^,}]*" routes "${out}")
expect_eq("not tls" "${routes}" "\"route\": \"plain\"")

# a bad map file names the line and fails
file(WRITE ${WORK}/bad.map "ok.example t\n*.a.* t\n")
execute_process(COMMAND ${INSPECT} --routes ${WORK}/bad.map --match x
  ERROR_VARIABLE err RESULT_VARIABLE rc)
expect_eq("bad map status" "${rc}" "2")
if(NOT err MATCHES "line 2")
  message(FATAL_ERROR "bad map: no line number in [${err}]")
endif()
