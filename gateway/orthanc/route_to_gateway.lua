-- Orthanc routing to the MRI gateway (docs/integration.md). Add to Orthanc's configuration:
--   "DicomModalities": { "gateway": [ "MRI-AI", "<gateway host>", 11112 ] },
--   "LuaScripts": [ "/path/to/route_to_gateway.lua" ]
-- Every MR series is sent to the gateway once it is stable (no new instance for Orthanc's
-- "StableAge" seconds), as an Orthanc job (Jobs in Orthanc Explorer show it). The SEG and SR the
-- gateway stores back are not MR, so they are not routed again.
function OnStableSeries(seriesId, tags, metadata)
  if tags['Modality'] == 'MR' then
    RestApiPost('/modalities/gateway/store',
                '{"Resources": ["' .. seriesId .. '"], "Asynchronous": true}')
  end
end
