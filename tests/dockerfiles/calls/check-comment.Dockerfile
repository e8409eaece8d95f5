FROM busybox AS Base
# check=skip=LegacyKeyValueFormat
ENV A b
ENV C d
# some words
# check=skip=UndefinedVar,SecretsUsedInArgOrEnv
ENV E=$NOPE API_TOKEN=1
# check=skip=JSONArgsRecommended
CMD echo hi
# check=skip=StageNameCasing
FROM busybox AS Other
